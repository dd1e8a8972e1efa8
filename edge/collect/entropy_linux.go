package collect

// EntropyCollector reports node_exporter's node_entropy_available_bits
// and node_entropy_pool_size_bits from
// /proc/sys/kernel/random/{entropy_avail,poolsize}.
type EntropyCollector struct{ gaugeFiles }

// NewEntropyCollector reads <root>/sys/kernel/random.
func NewEntropyCollector(root string) *EntropyCollector {
	return &EntropyCollector{gaugeFiles{name: "entropy", files: []gaugeFile{
		{newProcFile(root + "/sys/kernel/random/entropy_avail"), "node_entropy_available_bits"},
		{newProcFile(root + "/sys/kernel/random/poolsize"), "node_entropy_pool_size_bits"},
	}}}
}
