package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrNoNATSCLI says the nats CLI module could not be downloaded (callers
// skip rather than fail).
var ErrNoNATSCLI = errors.New("harness: the natscli module cannot be downloaded")

// NATSCLIVersion is the natscli release BuildNATSCLI builds.
const NATSCLIVersion = "v0.3.0"

// BuildNATSCLI builds the real nats CLI (github.com/nats-io/natscli at
// NATSCLIVersion) into dir/nats with testbench/natscli/build.sh, which
// keeps an existing binary of the same version (the per-checkout binary
// directory of StartStack makes that a cache).
func BuildNATSCLI(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "nats")
	cmd := exec.Command(filepath.Join(root, "testbench", "natscli", "build.sh"), out)
	cmd.Env = append(os.Environ(), "NATSCLI_VERSION="+NATSCLIVersion)
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 3:
		return "", fmt.Errorf("%w: %s", ErrNoNATSCLI, b)
	case err != nil:
		return "", fmt.Errorf("harness: building the nats CLI: %w\n%s", err, b)
	}
	return out, nil
}
