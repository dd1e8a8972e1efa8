package collect

import (
	"errors"
	"io/fs"
)

// EntropyCollector reports node_exporter's node_entropy_available_bits
// and node_entropy_pool_size_bits from
// /proc/sys/kernel/random/{entropy_avail,poolsize}.
type EntropyCollector struct {
	avail, pool *procFile
}

// NewEntropyCollector reads <root>/sys/kernel/random.
func NewEntropyCollector(root string) *EntropyCollector {
	return &EntropyCollector{
		avail: newProcFile(root + "/sys/kernel/random/entropy_avail"),
		pool:  newProcFile(root + "/sys/kernel/random/poolsize"),
	}
}

func (c *EntropyCollector) Name() string { return "entropy" }

func (c *EntropyCollector) Collect(e *Emitter) error {
	for _, f := range []struct {
		f    *procFile
		name string
	}{{c.avail, "node_entropy_available_bits"}, {c.pool, "node_entropy_pool_size_bits"}} {
		v, err := readNumber(f.f)
		if errors.Is(err, fs.ErrNotExist) {
			return ErrNoData
		}
		if err != nil {
			return wrap(c.Name(), f.f.path, err)
		}
		e.Gauge(f.name, v)
	}
	return nil
}
