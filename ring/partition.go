package ring

// FNV-1a, 32 bits (hash/fnv's New32a), inlined so hashing allocates nothing.
const (
	fnv32Offset = 2166136261
	fnv32Prime  = 16777619
)

// PartitionOf returns the partition in [0, n) of a key, computed exactly
// like nats-server's subject mapping function partition(n, ...): the FNV-1a
// 32-bit hash of the key, modulo n (server/subject_transform.go,
// getHashPartition). Like nats-server it returns 0 for n <= 0. nats-server
// accepts n up to math.MaxInt32; above that the result is the plain
// remainder.
//
// The key nats-server hashes depends on the form of the mapping:
//
//   - partition(n, i, j, ...) hashes the selected wildcard tokens
//     concatenated WITHOUT a separator, so tokens "ab","c" and "a","bc"
//     land in the same partition; [PartitionOfTokens] builds that key;
//   - the shorthand partition(n) hashes the whole subject, tokens joined by
//     ".", which is PartitionOf([]byte(subject), n).
func PartitionOf(key []byte, n int) int {
	if n <= 0 {
		return 0
	}
	h := uint32(fnv32Offset)
	for _, c := range key {
		h ^= uint32(c)
		h *= fnv32Prime
	}
	return int(uint64(h) % uint64(n))
}

// PartitionOfTokens returns the partition nats-server's partition(n, i, j,
// ...) assigns when the selected wildcard tokens are tokens, in the order
// the mapping lists them: the FNV-1a hash of their concatenation without a
// separator, modulo n. It does not allocate.
func PartitionOfTokens(n int, tokens ...string) int {
	if n <= 0 {
		return 0
	}
	h := uint32(fnv32Offset)
	for _, t := range tokens {
		for i := 0; i < len(t); i++ {
			h ^= uint32(t[i])
			h *= fnv32Prime
		}
	}
	return int(uint64(h) % uint64(n))
}
