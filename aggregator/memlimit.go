package aggregator

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// memLimitFraction is the share of the cgroup's memory limit given to the
// Go runtime as its soft limit (GOMEMLIMIT): the rest is for memory the
// runtime does not count (cgo, the kernel's page cache charged to the
// unit, stacks in flight) so the runtime collects harder before the
// kernel's OOM killer takes the whole unit, embedded hub included.
const memLimitFraction = 0.9

// errNoLimit means the process runs without a cgroup memory limit.
var errNoLimit = errors.New("no cgroup memory limit")

// SetMemoryLimit sets the Go runtime's soft memory limit to 90 % of the
// cgroup memory limit (cgroup v2 memory.max, or v1
// memory.limit_in_bytes) unless the GOMEMLIMIT environment variable is
// set, and logs what it did. It returns the limit set, 0 when none.
func SetMemoryLimit(log *slog.Logger) int64 {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("memory limit from GOMEMLIMIT", "GOMEMLIMIT", v, "bytes", debug.SetMemoryLimit(-1))
		return 0
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		log.Debug("no cgroup memory limit: /proc/self/cgroup", "err", err)
		return 0
	}
	defer f.Close()
	limit, path, err := cgroupMemoryLimit("/sys/fs/cgroup", f)
	if errors.Is(err, errNoLimit) {
		log.Info("no cgroup memory limit; GOMEMLIMIT not set", "cgroup", path)
		return 0
	}
	if err != nil {
		log.Warn("reading the cgroup memory limit; GOMEMLIMIT not set", "err", err)
		return 0
	}
	soft := int64(float64(limit) * memLimitFraction)
	debug.SetMemoryLimit(soft)
	log.Info("memory limit set from the cgroup", "cgroup_limit_bytes", limit, "gomemlimit_bytes", soft, "fraction", memLimitFraction, "file", path)
	return soft
}

// cgroupMemoryLimit reads the memory limit of the cgroup that
// /proc/self/cgroup (cg) names, under the cgroup file system root: v2's
// memory.max (the unified "0::" line) or v1's memory.limit_in_bytes (the
// "memory" controller's line). It returns errNoLimit for "max" or a v1
// limit of 2^63 rounded to pages, and the file read.
func cgroupMemoryLimit(root string, cg io.Reader) (int64, string, error) {
	var v1, v2 string
	sc := bufio.NewScanner(cg)
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		switch {
		case id == "0" && ctrls == "":
			v2 = path
		case containsField(ctrls, "memory"):
			v1 = path
		}
	}
	if err := sc.Err(); err != nil {
		return 0, "", fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	var candidates []string
	if v2 != "" {
		candidates = append(candidates, filepath.Join(root, v2, "memory.max"))
	}
	if v1 != "" {
		candidates = append(candidates, filepath.Join(root, "memory", v1, "memory.limit_in_bytes"),
			filepath.Join(root, "memory", "memory.limit_in_bytes")) // a container sees its own cgroup as the root
	}
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, p, err
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, p, errNoLimit
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return 0, p, fmt.Errorf("%s: %q is not a memory limit in bytes", p, s)
		}
		if n >= math.MaxInt64/2 { // v1's "no limit" is 2^63 rounded down to pages
			return 0, p, errNoLimit
		}
		return n, p, nil
	}
	return 0, strings.Join(candidates, ", "), errNoLimit
}

func containsField(list, name string) bool {
	for f := range strings.SplitSeq(list, ",") {
		if f == name {
			return true
		}
	}
	return false
}
