package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The state file lives next to the spool directory (<dir>.state), outside
// Badger, so whatever happens to the spool it still says how far the
// sequence went and how many batches the spool held. It has two 64-byte
// slots written alternately (a torn write spoils at most the older one);
// each slot is
//
//	magic "EPSQ" | generation | last seq | reserved seq | held batches | crc32c
//
// The last seq and held count are rewritten (not synced) after every
// Append, Ack and drop: a kill -9 keeps them (the page cache survives the
// process). The reserved seq is synced: it is raised in steps of
// seqReserve before any sequence number above it is issued, so even after
// a power cut that also damaged the spool the next number starts above
// everything issued.
const (
	stateSlot  = 64
	stateBytes = 44
	seqReserve = 1024
)

var (
	stateMagic = [4]byte{'E', 'P', 'S', 'Q'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// state is the content of one slot.
type state struct {
	gen      uint64
	lastSeq  uint64
	reserved uint64
	held     uint64
}

// stateFile writes the state slots. Not safe for concurrent use: the
// spool calls it under its mutex.
type stateFile struct {
	f   *os.File
	cur state
}

// openState opens (or creates) the state file and returns the newest valid
// slot; ok is false when the file is new or neither slot is valid.
func openState(path string) (*stateFile, state, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, state{}, false, fmt.Errorf("spool: state file %s: %w", path, err)
	}
	buf := make([]byte, 2*stateSlot)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, state{}, false, fmt.Errorf("spool: read state file %s: %w", path, err)
	}
	var best state
	ok := false
	for i := 0; i+stateBytes <= n && i < 2*stateSlot; i += stateSlot {
		if s, good := decodeState(buf[i : i+stateBytes]); good && (!ok || s.gen > best.gen) {
			best, ok = s, true
		}
	}
	if n < 2*stateSlot {
		// Allocate both slots now, so later rewrites never need a new
		// block of a full disk.
		if _, err := f.WriteAt(make([]byte, 2*stateSlot-n), int64(n)); err != nil {
			f.Close()
			return nil, state{}, false, fmt.Errorf("spool: allocate state file %s: %w", path, err)
		}
	}
	return &stateFile{f: f, cur: best}, best, ok, nil
}

func decodeState(b []byte) (state, bool) {
	if [4]byte(b[:4]) != stateMagic || crc32.Checksum(b[:40], castagnoli) != binary.BigEndian.Uint32(b[40:44]) {
		return state{}, false
	}
	return state{
		gen:      binary.BigEndian.Uint64(b[4:]),
		lastSeq:  binary.BigEndian.Uint64(b[12:]),
		reserved: binary.BigEndian.Uint64(b[20:]),
		held:     binary.BigEndian.Uint64(b[28:]),
	}, true
}

// write stores lastSeq and held in the next slot; when lastSeq reaches the
// reservation, it raises the reservation first and syncs.
func (sf *stateFile) write(lastSeq uint64, held int) error {
	s := sf.cur
	s.gen++
	s.lastSeq, s.held = lastSeq, uint64(held)
	sync := false
	if lastSeq+1 >= s.reserved { // the next number must stay below the synced reservation
		s.reserved = lastSeq + seqReserve
		sync = true
	}
	var b [stateBytes]byte
	copy(b[:4], stateMagic[:])
	binary.BigEndian.PutUint64(b[4:], s.gen)
	binary.BigEndian.PutUint64(b[12:], s.lastSeq)
	binary.BigEndian.PutUint64(b[20:], s.reserved)
	binary.BigEndian.PutUint64(b[28:], s.held)
	binary.BigEndian.PutUint32(b[40:], crc32.Checksum(b[:40], castagnoli))
	if _, err := sf.f.WriteAt(b[:], int64(s.gen%2)*stateSlot); err != nil {
		return fmt.Errorf("spool: write state file: %w", err)
	}
	if sync {
		if err := sf.f.Sync(); err != nil {
			return fmt.Errorf("spool: sync state file: %w", err)
		}
	}
	sf.cur = s
	return nil
}

func (sf *stateFile) close() error { return sf.f.Close() }
