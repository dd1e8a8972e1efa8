package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestCredentialsAndPrefix runs against a Redis ACL user confined to the
// keys under one prefix: the store authenticates with username and
// password file and writes under its prefix; a wrong password or a prefix
// outside the user's keys fails with a clear error.
func TestCredentialsAndPrefix(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, err := harness.StartRedis(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	root := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer root.Close()
	if err := root.Do(ctx, "ACL", "SETUSER", "edgepulse", "on", ">s3cret-pw", "~sec:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "redis-pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		openErr string // substring; "" = opens
		applyOK bool
	}{
		{"user, password file, own prefix", Options{Username: "edgepulse", PasswordFile: pwFile, Prefix: "sec:"}, "", true},
		{"user, password, own prefix", Options{Username: "edgepulse", Password: "s3cret-pw", Prefix: "sec:"}, "", true},
		{"wrong password", Options{Username: "edgepulse", Password: "nope", Prefix: "sec:"}, "WRONGPASS", false},
		{"prefix outside the ACL", Options{Username: "edgepulse", PasswordFile: pwFile, Prefix: "ep:"}, "", false},
		{"missing password file", Options{Username: "edgepulse", PasswordFile: filepath.Join(dir, "none"), Prefix: "sec:"}, "password_file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Addr = r.Addr
			s, err := Open(ctx, tt.opts)
			if tt.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.openErr) {
					t.Fatalf("Open = %v, want an error naming %q", err, tt.openErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Apply(ctx, batch(1, t0+40_000, 1))
			if tt.applyOK != (err == nil) {
				t.Fatalf("Apply = %v, want ok=%v", err, tt.applyOK)
			}
			if !tt.applyOK && !strings.Contains(err.Error(), "NOPERM") {
				t.Fatalf("Apply error %v does not say NOPERM", err)
			}
		})
	}
	keys, _ := root.Keys(ctx, "*").Result()
	for _, k := range keys {
		if !strings.HasPrefix(k, "sec:") {
			t.Errorf("key %q outside the prefix", k)
		}
	}
	if len(keys) == 0 {
		t.Error("nothing was written")
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{Options{Prefix: strings.Repeat("p", 65)}, "prefix"},
		{Options{Prefix: "a\x00"}, "prefix"},
		{Options{Password: "a", PasswordFile: "b"}, "password_file"},
		{Options{DB: 16}, "db"},
	} {
		err := tt.o.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.o, err, tt.want)
		}
	}
}
