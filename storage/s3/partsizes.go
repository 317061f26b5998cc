package s3

// partSizes says how large each part of a multipart upload is (not to be confused with the CLI's cron schedule). Parts come in tiers of
// perTier parts; each tier's parts are twice the size of the previous tier's, starting at
// the configured part size and capped at MaxPartSize:
//
//	size(n) = min(first × 2^((n-1) / perTier), MaxPartSize)   for part n = 1, 2, …
//
// perTier is the largest value for which maxParts parts hold the target size, so parts grow
// as late and as little as possible: with 16 MiB and 10,000 parts, the first 1,245 parts
// (19 GiB) are 16 MiB, the next 1,245 are 32 MiB, and so on; 4 GiB parts come only past
// 4.8 TiB, and 5 TiB fit. The target is 5 TiB (the S3 object limit) or, when
// maxParts × MaxPartSize is too small for that (providers allowing 1,000 parts), half of
// what maxParts parts can hold at most, so that parts still start small. When even
// perTier = 1 cannot reach the target (only with a tiny maxParts), every part doubles.
type partSizes struct {
	first    int64
	perTier  int
	maxParts int
}

func newPartSizes(first int64, maxParts int) partSizes {
	target := min(int64(MaxObjectSize), int64(maxParts)*MaxPartSize/2)
	p := partSizes{first: first, maxParts: maxParts}
	// capacity falls as perTier grows (every part is at most as large), so search for the
	// largest perTier that still reaches the target.
	lo, hi := 1, maxParts
	for lo < hi {
		mid := (lo + hi + 1) / 2
		p.perTier = mid
		if p.capacity() >= target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	p.perTier = lo
	return p
}

// size returns the size of part n (from 1).
func (p partSizes) size(n int) int64 {
	tier := (n - 1) / p.perTier
	if tier >= 30 { // first ≥ 5 MiB, so the cap was reached long before; avoid overflow
		return MaxPartSize
	}
	return min(p.first<<tier, MaxPartSize)
}

// capacity returns how many bytes maxParts parts hold.
func (p partSizes) capacity() int64 {
	var total int64
	for n := 1; n <= p.maxParts; n++ {
		total += p.size(n)
	}
	return total
}
