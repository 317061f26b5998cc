package storagetest

import "io"

// PatternReader yields n pseudo-random bytes from a 1 MiB block, rotated by one byte per
// round so that no two blocks of the stream are equal (nothing a store or a compressor
// could deduplicate), without holding the stream in memory.
func PatternReader(n int64) io.Reader {
	return &patternReader{block: Data(42, 1<<20), n: n}
}

type patternReader struct {
	block []byte
	off   int64
	n     int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	total := 0
	for len(b) > 0 {
		bs := int64(len(p.block))
		round, pos := p.off/bs, p.off%bs
		start := (pos + round) % bs
		m := copy(b, p.block[start:])
		if int64(m) > bs-pos {
			m = int(bs - pos)
		}
		b = b[m:]
		p.off += int64(m)
		total += m
	}
	return total, nil
}

// FailAfter is a producer that yields the first n bytes of data and then fails with err,
// as a dump that broke mid-stream does.
func FailAfter(data []byte, n int, err error) io.Reader {
	return &failingReader{data: data, n: n, err: err}
}
