package ring

import (
	"errors"
	"fmt"
	"math"
)

// Defaults and limits for [Options] and [Member].
const (
	DefaultPartitions   = 64
	DefaultVirtualNodes = 128
	DefaultLoadFactor   = 1.0

	MaxPartitions   = 1 << 16
	MaxVirtualNodes = 4096
	MaxLoadFactor   = 64.0
	MaxWeight       = 1000.0
	// MaxPoints bounds the ring size: the sum over members of
	// round(VirtualNodes * Weight).
	MaxPoints = 1 << 22
)

// ErrInvalidOptions is wrapped by every error about an [Options] field.
var ErrInvalidOptions = errors.New("ring: invalid options")

// Options configure a [Ring]. The zero value of each field means its
// default; [DefaultOptions] spells the defaults out.
type Options struct {
	// Partitions is the number of partitions P, numbered 0..P-1. It must
	// match the n of the nats-server partition(n, ...) subject mapping that
	// produces the partition tokens. Default 64, range 1..65536.
	Partitions int `yaml:"partitions"`
	// VirtualNodes is the number of ring points of a member of weight 1; a
	// member of weight w gets max(1, round(VirtualNodes*w)) points.
	// Default 128, range 1..4096.
	VirtualNodes int `yaml:"virtual_nodes"`
	// LoadFactor c sets each member's capacity, the most partitions it may
	// hold, to max(ceil(s), floor(c*s)) where s = P*w/W is its fair share
	// (w its weight, W the total weight). 1 (the default) gives the
	// tightest balance: with equal weights no member holds more than
	// ceil(P/N) partitions. Larger values trade balance for less movement;
	// c = 1.1 keeps max/mean <= 1.1 wherever integer counts allow it.
	// Range 1..64.
	LoadFactor float64 `yaml:"load_factor"`
}

// DefaultOptions returns the options that the zero value stands for.
func DefaultOptions() Options {
	return Options{
		Partitions:   DefaultPartitions,
		VirtualNodes: DefaultVirtualNodes,
		LoadFactor:   DefaultLoadFactor,
	}
}

// withDefaults replaces zero fields by their defaults.
func (o Options) withDefaults() Options {
	if o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
	if o.VirtualNodes == 0 {
		o.VirtualNodes = DefaultVirtualNodes
	}
	if o.LoadFactor == 0 {
		o.LoadFactor = DefaultLoadFactor
	}
	return o
}

// Validate reports the first field that is out of range. Zero fields are
// valid: they mean the default.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.Partitions < 1 || o.Partitions > MaxPartitions {
		return fmt.Errorf("%w: Partitions = %d, want 1..%d", ErrInvalidOptions, o.Partitions, MaxPartitions)
	}
	if o.VirtualNodes < 1 || o.VirtualNodes > MaxVirtualNodes {
		return fmt.Errorf("%w: VirtualNodes = %d, want 1..%d", ErrInvalidOptions, o.VirtualNodes, MaxVirtualNodes)
	}
	if !(o.LoadFactor >= 1 && o.LoadFactor <= MaxLoadFactor) { // also rejects NaN
		return fmt.Errorf("%w: LoadFactor = %v, want 1..%v", ErrInvalidOptions, o.LoadFactor, MaxLoadFactor)
	}
	return nil
}

// ErrInvalidMember is wrapped by every error about the member list.
var ErrInvalidMember = errors.New("ring: invalid member")

// Member is one participant of the ring, identified by a string ID (for
// Edgepulse: the aggregator's name in the membership KV bucket).
type Member struct {
	ID string
	// Weight scales the member's share: weight 2 gets about twice the
	// partitions of weight 1. 0 means 1; otherwise the range is (0, 1000].
	Weight float64
}

// weight returns the effective weight (0 means 1).
func (m Member) weight() float64 {
	if m.Weight == 0 {
		return 1
	}
	return m.Weight
}

func (m Member) validate() error {
	if m.ID == "" {
		return fmt.Errorf("%w: empty ID", ErrInvalidMember)
	}
	if w := m.Weight; !(w >= 0 && w <= MaxWeight) { // also rejects NaN and Inf
		return fmt.Errorf("%w: %q: Weight = %v, want 0 (meaning 1) or (0, %v]", ErrInvalidMember, m.ID, w, MaxWeight)
	}
	return nil
}

// virtualNodes returns how many ring points a member gets.
func virtualNodes(opts Options, m Member) int {
	return max(1, int(math.Round(float64(opts.VirtualNodes)*m.weight())))
}
