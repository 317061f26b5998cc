package azblob

// blockSizes says how large each block of a staged upload is. Blocks come in tiers of
// perTier blocks; each tier's blocks are twice the size of the previous tier's, starting at
// the configured block size and capped at MaxBlockSize:
//
//	size(n) = min(first × 2^((n-1) / perTier), MaxBlockSize)   for block n = 1, 2, …
//
// perTier is the largest value for which MaxBlocks blocks hold MaxObjectSize, so blocks
// grow as late and as little as possible: with 16 MiB, the first 6,241 blocks (97 GiB)
// are 16 MiB, the next 6,241 are 32 MiB, and so on, and 5 TiB fit in 50,000 blocks.
type blockSizes struct {
	first   int64
	perTier int
}

func newBlockSizes(first int64) blockSizes {
	b := blockSizes{first: first}
	// capacity falls as perTier grows, so search for the largest perTier that still
	// reaches the target.
	lo, hi := 1, MaxBlocks
	for lo < hi {
		mid := (lo + hi + 1) / 2
		b.perTier = mid
		if b.capacity() >= MaxObjectSize {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	b.perTier = lo
	return b
}

// size returns the size of block n (from 1).
func (b blockSizes) size(n int) int64 {
	tier := (n - 1) / b.perTier
	if tier >= 40 {
		return MaxBlockSize
	}
	return min(b.first<<tier, MaxBlockSize)
}

// capacity returns how many bytes MaxBlocks blocks hold.
func (b blockSizes) capacity() int64 {
	var total int64
	for n := 1; n <= MaxBlocks; n++ {
		total += b.size(n)
	}
	return total
}
