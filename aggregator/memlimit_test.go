package aggregator

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCgroupMemoryLimit(t *testing.T) {
	write := func(root, p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, cgroup, file, content string
		want                        int64
		wantErr                     string
	}{
		{"v2", "0::/system.slice/edgepulse-aggregator.service\n", "system.slice/edgepulse-aggregator.service/memory.max", "2147483648\n", 2 << 30, ""},
		{"v2 max", "0::/user.slice\n", "user.slice/memory.max", "max\n", 0, "no cgroup memory limit"},
		{"v1", "4:memory:/kubepods/pod1\n0::/\n", "memory/kubepods/pod1/memory.limit_in_bytes", "1073741824\n", 1 << 30, ""},
		{"v1 unlimited", "4:memory:/x\n", "memory/x/memory.limit_in_bytes", "9223372036854771712\n", 0, "no cgroup memory limit"},
		{"garbage", "0::/g\n", "g/memory.max", "lots\n", 0, "not a memory limit"},
		{"no files", "0::/none\n", "", "", 0, "no cgroup memory limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.file != "" {
				write(root, tt.file, tt.content)
			}
			got, _, err := cgroupMemoryLimit(root, strings.NewReader(tt.cgroup))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "no cgroup") && !errors.Is(err, errNoLimit) {
					t.Fatalf("err %v is not errNoLimit", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
