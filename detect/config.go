package detect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config configures a [Scorer] and the [Series] it runs: every detector,
// the fusion and the rules. The zero value of every field means its default
// (see [DefaultConfig]); a YAML document only needs the fields it changes:
//
//	sample_interval: 5m
//	ewma: {alpha: 0.05}
//	fusion: {series: max, host: max, weights: {cusum: 0.5}}
//	rules:
//	  - {name: fs_full, series: fs_used_percent, op: ">", threshold: 85, for: 5m}
type Config struct {
	// SampleInterval is the time between rows when the caller has no
	// clock (the CSV scorer), used for rules' `for` durations. Default 1s.
	SampleInterval time.Duration `yaml:"sample_interval"`
	EWMA           EWMAConfig    `yaml:"ewma"`
	// SPOT configures the per-series DSPOT detector.
	SPOT  SPOTConfig  `yaml:"spot"`
	CUSUM CUSUMConfig `yaml:"cusum"`
	// Dist configures the per-series distribution detector ([Dist]).
	Dist   DistConfig   `yaml:"dist"`
	PCA    PCAConfig    `yaml:"pca"`
	Fusion FusionConfig `yaml:"fusion"`
	// Rules are threshold rules, matched to series by exact name.
	Rules []Rule `yaml:"rules"`
}

// FusionConfig says how detector scores become one score per series and
// per host. A weight of 0 disables the detector (it is not run at all).
type FusionConfig struct {
	// Series fuses a series' detector scores. Default "sidak": the
	// smallest tail probability of the enabled detectors, corrected for
	// their number, so 0.5 means a rate of PRef per series.
	Series FuseMethod `yaml:"series"`
	// Host fuses the series scores and the PCA score. Default "sidak":
	// the smallest tail probability over the inputs, corrected for their
	// number, so 0.5 means a rate of PRef per host row whatever the
	// number of series.
	Host FuseMethod `yaml:"host"`
	// Smooth is the number of recent rows whose fused host scores are
	// averaged into the host score (with "sidak": their log tail
	// probabilities), so an isolated one-row blip weighs less than a
	// lasting anomaly. Default 1 (no smoothing); range [1, 16].
	Smooth int `yaml:"smooth"`
	// Calibrate maps each detector's score through its own history on the
	// series (see Series) before fusing. Default true.
	Calibrate *bool   `yaml:"calibrate"`
	Weights   Weights `yaml:"weights"`
}

// Weights of each detector in fusion; nil means the default 1, 0 disables.
// Weights lie in [0, 1] so that fused scores stay in [0, 1]. With the
// "sidak" fusion a weight w raises the input's tail probability to the
// power w (p^w: less evidence).
type Weights struct {
	EWMA   *float64 `yaml:"ewma"`
	SPOT   *float64 `yaml:"spot"`
	CUSUM  *float64 `yaml:"cusum"`
	Dist   *float64 `yaml:"dist"`
	Rules  *float64 `yaml:"rules"`
	PCA    *float64 `yaml:"pca"`
	Series *float64 `yaml:"series"`
}

// DefaultConfig returns the configuration the zero Config stands for.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// Effective returns c with every default filled in: the settings the
// detectors run with (what an agent reports as its effective config).
func (c Config) Effective() Config { return c.withDefaults() }

func (c Config) withDefaults() Config {
	if c.SampleInterval == 0 {
		c.SampleInterval = time.Second
	}
	c.EWMA = c.EWMA.withDefaults()
	c.SPOT = c.SPOT.withDefaults()
	c.CUSUM = c.CUSUM.withDefaults()
	c.Dist = c.Dist.withDefaults()
	c.PCA = c.PCA.withDefaults()
	if c.Fusion.Series == "" {
		c.Fusion.Series = FuseSidak
	}
	if c.Fusion.Host == "" {
		c.Fusion.Host = FuseSidak
	}
	if c.Fusion.Smooth == 0 {
		c.Fusion.Smooth = 1
	}
	if c.Fusion.Calibrate == nil {
		t := true
		c.Fusion.Calibrate = &t
	}
	w := &c.Fusion.Weights
	for _, p := range []**float64{&w.EWMA, &w.SPOT, &w.CUSUM, &w.Dist, &w.Rules, &w.PCA, &w.Series} {
		if *p == nil {
			one := 1.0
			*p = &one
		}
	}
	return c
}

// LoadConfig parses YAML bytes into a Config and validates it. Unknown
// fields are errors. Empty input gives the defaults.
func LoadConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("detect: parse config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports the first invalid field by its YAML path, e.g.
// "spot.q: 2 out of range (0, 0.1]" or "rules[1].op: ...".
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.SampleInterval < 0 || c.SampleInterval > 24*time.Hour {
		return fmt.Errorf("detect: config: sample_interval: %v out of range (0, 24h]", c.SampleInterval)
	}
	checks := []struct {
		name string
		err  error
	}{
		{"ewma", c.EWMA.Validate()},
		{"spot", c.SPOT.Validate()},
		{"cusum", c.CUSUM.Validate()},
		{"dist", c.Dist.Validate()},
		{"pca", c.PCA.Validate()},
	}
	for _, ch := range checks {
		if ch.err != nil {
			return fmt.Errorf("detect: config: %s.%w", ch.name, ch.err)
		}
	}
	if err := c.Fusion.Series.Validate(); err != nil {
		return fmt.Errorf("detect: config: fusion.series: %w", err)
	}
	if err := c.Fusion.Host.Validate(); err != nil {
		return fmt.Errorf("detect: config: fusion.host: %w", err)
	}
	if c.Fusion.Smooth < 1 || c.Fusion.Smooth > 16 {
		return fmt.Errorf("detect: config: fusion.smooth: %d out of range [1, 16]", c.Fusion.Smooth)
	}
	w := c.Fusion.Weights
	for _, f := range []struct {
		name string
		v    float64
	}{{"ewma", *w.EWMA}, {"spot", *w.SPOT}, {"cusum", *w.CUSUM}, {"dist", *w.Dist}, {"rules", *w.Rules}, {"pca", *w.PCA}, {"series", *w.Series}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("detect: config: fusion.weights.%s: %v out of range [0, 1]", f.name, f.v)
		}
	}
	if err := (RuleSet{Rules: c.Rules}).Validate(); err != nil {
		return fmt.Errorf("detect: config: %w", err)
	}
	return nil
}
