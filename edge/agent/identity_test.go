package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMsgIDKey: the key is made once (mode 0600) and read back the same;
// a damaged file is an error naming it.
func TestMsgIDKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := loadMsgIDKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, msgIDKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v, want 0600", err, fi.Mode())
	}
	k2, err := loadMsgIDKey(dir)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("second load: %v, same key %v", err, string(k1) == string(k2))
	}
	os.WriteFile(filepath.Join(dir, msgIDKeyFile), []byte("zz\n"), 0o600)
	if _, err := loadMsgIDKey(dir); err == nil || !strings.Contains(err.Error(), msgIDKeyFile) {
		t.Fatalf("damaged key: %v, want an error naming %s", err, msgIDKeyFile)
	}
}

// TestNATSUserNeedsPassword: nats_password_file without nats_user is a
// config error.
func TestNATSUserNeedsPassword(t *testing.T) {
	c := DefaultConfig()
	c.Site, c.Host, c.NATSPasswordFile = "s1", "h1", "/x"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "nats_user") {
		t.Fatalf("Validate: %v, want an error naming nats_user", err)
	}
}
