package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// The agent's identity on the site leaf (docs/security.md): its own user
// (nats_user, nats_password_file), which the leaf allows to publish only
// tele.<site>.<host>, and a key kept in the data directory that signs its
// Nats-Msg-Ids so no neighbour can make the stream drop its batches as
// duplicates.

// msgIDKeyFile is the key's file name in the data directory.
const msgIDKeyFile = "msgid.key"

// loadMsgIDKey reads the data directory's Nats-Msg-Id key, creating it
// (random, mode 0600) on first start. A lost key only changes the ids of
// batches published after it: a batch resent across the change may be
// stored twice, which the aggregator acknowledges as a duplicate (its
// applied-sequence set). A key that cannot be written for a full disk is
// returned with the error (spool.IsDiskFull): the agent uses it for this
// run, and the next start makes another.
func loadMsgIDKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, msgIDKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, codec.MsgIDKeyBytes)
		rand.Read(key)
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return key, fmt.Errorf("agent: %s: %w", path, err)
		}
		if err := writeFileAtomic(path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
			return key, fmt.Errorf("agent: writing %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != codec.MsgIDKeyBytes {
		return nil, fmt.Errorf("agent: %s must hold %d bytes in hex (delete it to make a new one)", path, codec.MsgIDKeyBytes)
	}
	return key, nil
}

// natsAuth is the connection's credentials: nats_user with the password
// in nats_password_file, nothing when nats_user is empty (credentials in
// nats_url, or a leaf without authorization).
func natsAuth(c Config) (nats.Option, error) {
	if c.NATSUser == "" {
		return func(*nats.Options) error { return nil }, nil
	}
	pw := ""
	if c.NATSPasswordFile != "" {
		b, err := os.ReadFile(c.NATSPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("config: nats_password_file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	}
	return nats.UserInfo(c.NATSUser, pw), nil
}
