package collect

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/procfs"
)

// Default returns the standard collector set over the procfs tree at root
// (normally /proc).
func Default(log *slog.Logger, root string) (*Set, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("collect: procfs root %q: %w", root, err)
	}
	return NewSet(log,
		NewStatCollector(fs, root),
		NewMeminfoCollector(root),
		NewLoadavgCollector(fs, root),
	), nil
}
