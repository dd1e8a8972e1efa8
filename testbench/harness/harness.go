package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RepoRoot returns the module root (the directory holding go.mod), found
// by walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// It is for processes that must be told their port and cannot report one
// they bound themselves (redis-server, clustered nats-servers whose routes
// name each other): another process can take the port before they bind
// it, so callers detect that and retry (StartRedis). A Go server in the
// test process listens on 127.0.0.1:0 and passes the listener instead.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Bins are the built binaries.
type Bins struct {
	Dir        string
	Agent      string
	Aggregator string
	NATSServer string
}

var (
	buildOnce sync.Once
	built     Bins
	buildErr  error
)

// BuildCheckout builds into a binary directory of this checkout's own
// (named by a hash of its root), so runs from two work trees never replace
// each other's binaries.
func BuildCheckout() (Bins, error) {
	root, err := RepoRoot()
	if err != nil {
		return Bins{}, err
	}
	return Build(filepath.Join(os.TempDir(), fmt.Sprintf("edgepulse-testbench-bin-%08x", crc32.ChecksumIEEE([]byte(root)))))
}

// Build builds edgepulse-agent, edgepulse-aggregator and nats-server (the
// version go.mod pins) into dir, once per process.
func Build(dir string) (Bins, error) {
	buildOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		built = Bins{
			Dir:        dir,
			Agent:      filepath.Join(dir, "edgepulse-agent"),
			Aggregator: filepath.Join(dir, "edgepulse-aggregator"),
			NATSServer: filepath.Join(dir, "nats-server"),
		}
		for pkg, out := range map[string]string{
			"./edge/cmd/edgepulse-agent":            built.Agent,
			"./aggregator/cmd/edgepulse-aggregator": built.Aggregator,
			"github.com/nats-io/nats-server/v2":     built.NATSServer,
		} {
			cmd := exec.Command("go", "build", "-o", out, pkg)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("harness: go build %s: %w\n%s", pkg, err, b)
				return
			}
		}
	})
	return built, buildErr
}

// Proc is a running child process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // path of its combined stdout/stderr

	// logStart is the log's size when this process started: a log is
	// appended to across restarts, and what came before is another
	// process's (Own).
	logStart int64

	once sync.Once
	done chan struct{}
	err  error
}

// Start runs bin with args and env (added to this process's environment),
// logging to logDir/<name>.log.
func Start(name, logDir string, env []string, bin string, args ...string) (*Proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	var logStart int64
	if fi, err := f.Stat(); err == nil {
		logStart = fi.Size()
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if runtime.GOOS == "linux" {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // never outlive the test
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("harness: start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, logStart: logStart, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to 10 s, then SIGKILL.
func (p *Proc) Stop() {
	p.once.Do(func() {
		if p.Exited() {
			return
		}
		syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// Kill sends SIGKILL (a crash or power cut, as far as the process knows).
func (p *Proc) Kill() {
	p.once.Do(func() {
		syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
}

// Tail returns the last n bytes of the process log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Own returns what this process wrote to its log (not the lines of
// earlier processes of the same name).
func (p *Proc) Own() string {
	b, _ := os.ReadFile(p.Log)
	if int64(len(b)) < p.logStart {
		return string(b)
	}
	return string(b[p.logStart:])
}

// WaitFor polls cond every 100 ms until it returns nil or the timeout
// passes; it returns the last error.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	return WaitFor(ctx, timeout, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// WaitHTTP waits until url answers 200.
func WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	return WaitFor(ctx, timeout, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

// Redis is a private redis-server.
type Redis struct {
	*Proc
	Addr string
	Dir  string // its working directory (dump.rdb)
}

// Restart starts redis-server again on the same port and directory, so it
// loads the dump.rdb there (the last SAVE) as Redis does after a crash.
// Stop or Kill it first.
func (r *Redis) Restart(ctx context.Context) error {
	_, port, _ := strings.Cut(r.Addr, "127.0.0.1:")
	n, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("harness: redis address %s: %w", r.Addr, err)
	}
	nr, err := startRedis(ctx, r.Dir, n)
	if err != nil {
		return err
	}
	r.Proc = nr.Proc
	return nil
}

// StartRedis starts redis-server on a free port with its data in dir.
// It fails with the install command when redis-server is missing.
// redis-server cannot bind port 0 and report it, so the port is picked
// with FreePort; when another process took it in between, redis-server
// exits with "Address already in use" and StartRedis tries another port.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	var err error
	for range 5 {
		var port int
		if port, err = FreePort(); err != nil {
			return nil, err
		}
		var r *Redis
		if r, err = startRedis(ctx, dir, port); !errors.Is(err, errPortTaken) {
			return r, err
		}
	}
	return nil, err
}

// errPortTaken: the process could not bind its port.
var errPortTaken = errors.New("harness: port already in use")

func startRedis(ctx context.Context, dir string, port int) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("harness: redis-server not found; install it with: apt-get update && apt-get install -y redis-server")
	}
	// The log is appended to across restarts: look only past its end now.
	var logStart int64
	if fi, err := os.Stat(filepath.Join(dir, "redis.log")); err == nil {
		logStart = fi.Size()
	}
	p, err := Start("redis", dir, nil, bin,
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	since := func() string {
		b, _ := os.ReadFile(p.Log)
		if int64(len(b)) < logStart {
			return string(b)
		}
		return string(b[logStart:])
	}
	// Wait for this process to say it listens: a connection to addr alone
	// could reach another process that holds the port.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(since(), "Ready to accept connections") {
		if p.Exited() {
			if strings.Contains(since(), "Address already in use") {
				return nil, fmt.Errorf("%w: redis on %s", errPortTaken, addr)
			}
			return nil, fmt.Errorf("harness: redis on %s exited:\n%s", addr, p.Tail(2000))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return nil, fmt.Errorf("harness: redis on %s not ready after 15s\n%s", addr, p.Tail(2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := WaitTCP(ctx, addr, 15*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("harness: redis on %s: %w\n%s", addr, err, p.Tail(2000))
	}
	return &Redis{Proc: p, Addr: addr, Dir: dir}, nil
}

// CopyTree copies the regular files of src into dst (for fixture /proc
// trees the test then edits).
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// WriteFileAtomic replaces path's content atomically (rename), so a
// collector never reads a half-written fixture file.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Lines formats key: value lines, for small YAML configs.
func Lines(kv ...string) []byte {
	var b bytes.Buffer
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s: %s\n", kv[i], kv[i+1])
	}
	return b.Bytes()
}
