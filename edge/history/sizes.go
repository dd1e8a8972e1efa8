package history

// The size index: one small key per stored minute holding the minute's
// bytes, so that opening the history reads a few KB instead of every block
// of every table (a full day is ~190 MB of blocks; reading them at start
// mapped ~90 MB of tables into the agent's RSS and decompressed every
// block).

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// sizePrefix starts a size key: "s" + the Unix minute (8 bytes, big
// endian); its value is the minute's bytes (keys plus values of its
// blocks) as a uvarint. It collides with neither the blocks' 'h' nor the
// spool's keys ("b" batches, "m:seq").
const sizePrefix = 's'

func sizeKey(minute int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{sizePrefix}, uint64(minute))
}

func parseSizeKey(k []byte) (minute int64, ok bool) {
	if len(k) != 9 || k[0] != sizePrefix {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(k[1:])), true
}

func sizeValue(n int64) []byte { return binary.AppendUvarint(nil, uint64(n)) }

// openStats says what opening the history read; tests check that a
// reopen reads the size keys and only the newest minutes' blocks.
type openStats struct {
	sizeKeys   int  // size keys read
	blocksRead int  // block keys iterated to recompute sizes
	fullScan   bool // no size keys: every block was read (a history from an older agent)
}

// loadSizesLocked fills h.minutes and the byte and minute counts from the
// size keys, then recounts exactly, block by block, the minutes a crash
// may have left without their size key or with a stale one, and writes
// their corrected size keys.
//
// Flush writes a minute's blocks and then, in the same WriteBatch, its
// size key; a WriteBatch commits as a sequence of transactions, so a
// crash can keep the blocks and lose the size key. Flush only writes
// minutes at or after the newest minute that has a size key (samples
// older than the cutoff are late; the merge at a restart goes into the
// minute the previous run stopped in, which has one), so recounting from
// that minute on is enough. An unreadable size key's minute is recounted
// too. Without any size key (a history an older agent wrote) every block
// is read once, and the keys are written. Not covered: a clock stepped
// back behind the newest stored minute and a crash inside the next flush
// can leave an older minute's size key short until that minute goes (the
// byte bound is then off by that part of one minute).
func (h *History) loadSizesLocked() error {
	newest, bad, err := h.readSizeKeys()
	if err != nil {
		return err
	}
	began := time.Now()
	full := len(h.minutes) == 0
	from := newest
	if full {
		from = 0
	}
	exact, err := h.countBlocks(from, bad)
	if err != nil {
		return err
	}
	// The recounted minutes replace what their size keys said; a size key
	// in the recounted range whose minute has no block left is deleted.
	wb := h.db.NewWriteBatch()
	defer wb.Cancel()
	writes := 0
	for m, stored := range h.minutes {
		if m < from && !slices.Contains(bad, m) {
			continue
		}
		if _, ok := exact[m]; !ok {
			delete(h.minutes, m)
			if err := wb.Delete(sizeKey(m)); err != nil {
				return fmt.Errorf("history: deleting the size key of empty minute %d: %w", m, err)
			}
			writes++
			continue
		}
		if stored == exact[m] {
			delete(exact, m) // nothing to write
		}
	}
	for m, n := range exact {
		h.minutes[m] = n
		if err := wb.Set(sizeKey(m), sizeValue(n)); err != nil {
			return fmt.Errorf("history: writing the size key of minute %d: %w", m, err)
		}
		writes++
	}
	if writes > 0 {
		if err := wb.Flush(); err != nil {
			return fmt.Errorf("history: writing corrected size keys: %w", err)
		}
	}
	for _, n := range h.minutes {
		h.st.Bytes += n
	}
	h.st.Minutes = len(h.minutes)
	if full && len(h.minutes) > 0 {
		h.opened.fullScan = true
		h.log.Info("history: no size keys (a history written by an older agent): read every block once and wrote them",
			"minutes", len(h.minutes), "bytes", h.st.Bytes, "blocks_read", h.opened.blocksRead, "took", time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// readSizeKeys loads every size key into h.minutes. It returns the newest
// minute with a size key and the minutes whose size key is unreadable.
func (h *History) readSizeKeys() (newest int64, bad []int64, err error) {
	err = h.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{sizePrefix}, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			m, ok := parseSizeKey(item.Key())
			if !ok {
				continue
			}
			h.opened.sizeKeys++
			newest = max(newest, m)
			var n uint64
			verr := item.Value(func(v []byte) error {
				var k int
				n, k = binary.Uvarint(v)
				if k <= 0 || k != len(v) || n > 1<<40 {
					return fmt.Errorf("size key of minute %d: bad value %x", m, v)
				}
				return nil
			})
			if verr != nil {
				h.st.Errors++
				h.log.Warn("history: unreadable size key; recounting its minute", "minute", time.Unix(m*60, 0).UTC(), "err", verr)
				bad = append(bad, m)
				h.minutes[m] = 0
				continue
			}
			h.minutes[m] = int64(n)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("history: reading size keys: %w", err)
	}
	return newest, bad, nil
}

// countBlocks returns the exact bytes of every minute from minute from on,
// and of the minutes in also, read block by block.
func (h *History) countBlocks(from int64, also []int64) (map[int64]int64, error) {
	exact := map[int64]int64{}
	count := func(txn *badger.Txn, seek []byte, prefix []byte) {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(seek); it.Valid(); it.Next() {
			item := it.Item()
			m, _, ok := parseKey(item.Key())
			if !ok {
				continue
			}
			h.opened.blocksRead++
			exact[m] += int64(len(item.Key())) + item.ValueSize()
		}
	}
	err := h.db.View(func(txn *badger.Txn) error {
		count(txn, blockKey(nil, from, nil), []byte{keyPrefix})
		for _, m := range also {
			if m < from {
				p := blockKey(nil, m, nil)
				count(txn, p, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: counting the stored minutes' bytes: %w", err)
	}
	return exact, nil
}

// noteTouchedLocked records that this flush changed minute m's bytes.
func (h *History) noteTouchedLocked(m int64) {
	if !slices.Contains(h.touched, m) {
		h.touched = append(h.touched, m)
	}
}

// writeSizesLocked adds the size key of every minute this flush touched
// to wb, after the minutes' blocks.
func (h *History) writeSizesLocked(wb *badger.WriteBatch) error {
	defer func() { h.touched = h.touched[:0] }()
	for _, m := range h.touched {
		if err := wb.Set(sizeKey(m), sizeValue(h.minutes[m])); err != nil {
			return fmt.Errorf("history: write the size of minute %d: %w", m, err)
		}
	}
	return nil
}
