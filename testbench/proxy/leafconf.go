package proxy

import (
	"fmt"
	"os"
	"strings"
)

// LeafConfig writes a copy of the leaf config at src (deploy/leaf.conf or
// one like it: a hub remote with url $EDGEPULSE_HUB_LEAF_URL) to dst whose
// hub remote ignores the leaf-node URLs the hub advertises. Without that
// the leaf learns the hub's own leaf port from its INFO and, when the
// proxy refuses it, reconnects there directly: the cut would not cut, and
// bytes would bypass the counters. compression, when set, replaces the
// remote's "compression: s2_best". It returns dst.
func LeafConfig(src, dst, compression string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	const remote = "url: $EDGEPULSE_HUB_LEAF_URL"
	if !strings.Contains(string(b), remote) {
		return "", fmt.Errorf("proxy: %s has no remote %q to route through the proxy", src, remote)
	}
	out := strings.Replace(string(b), remote, remote+"\n      ignore_discovered_servers: true # testbench: only through the proxy", 1)
	if compression != "" {
		const mode = "compression: s2_best"
		if !strings.Contains(out, mode) {
			return "", fmt.Errorf("proxy: %s has no %q to replace with %q", src, mode, compression)
		}
		out = strings.Replace(out, mode, "compression: "+compression, 1)
	}
	return dst, os.WriteFile(dst, []byte(out), 0o644)
}
