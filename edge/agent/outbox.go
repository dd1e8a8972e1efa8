package agent

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgepulse/edgepulse/edge/spool"
)

// The outbox is where shipped windows go: the spool, or — while the spool
// cannot open because its file system is full (spool.IsDiskFull: no room
// for Badger's write-ahead log; damage is not this case) — a small queue
// in memory of at most memQueueWindows batches. The agent runs either
// way: it collects, rolls up, detects and publishes; batches in memory go
// straight to the forwarder (forward.Source), numbered by a
// spool.Sequencer from the spool's state file, so that sequence numbers
// never go back below one issued, across restarts too. A full memory
// queue drops its oldest batch (counted, logged once until it has room
// again). spoolopen.go retries the spool; once it opens the batches still
// in memory move into it (spool.Adopt, under their numbers) and the
// outbox is the spool from then on.

// memQueueWindows bounds the batches held in memory while the spool is
// closed (docs/spool.md has the sizing: one batch per window).
const memQueueWindows = 16

// memBatch is one encoded batch held in memory.
type memBatch struct {
	seq  uint64
	data []byte
}

// OutboxStats describe the outbox.
type OutboxStats struct {
	SpoolOpen      bool   // false: a full disk keeps the spool closed, windows wait in memory
	MemBatches     int    // batches held in memory
	MemBytes       int64  // their bytes
	MemDropped     uint64 // batches dropped because the memory queue was full
	OpenFailures   uint64 // attempts to open the spool that failed (a full disk)
	BadgerLogLines uint64 // error and warning lines from Badger (spool.BadgerLog)
	BadgerLogHeld  uint64 // of those, repeats held back from the log
}

// outbox is the spool, or the memory queue standing in for it.
type outbox struct {
	opts spool.Options
	log  *slog.Logger
	sp   atomic.Pointer[spool.Spool] // nil while closed

	mu       sync.Mutex // the memory queue and the sequencer
	seqr     *spool.Sequencer
	mem      []memBatch // oldest first, at most memCap
	memCap   int
	memBytes int64
	dropped  uint64
	dropLog  bool // the drop was logged and the queue has not had room since
	roomLog  bool // "stays closed" for a disk below the reserve was logged
	// holdBack: the closed spool holds batches older than those in
	// memory, so the memory queue is not published (see openOutbox).
	holdBack bool
	fails    atomic.Uint64 // failed opens
}

// openOutbox opens the spool; a full disk opens the memory queue instead
// (ok: the agent starts), anything else is the error.
func openOutbox(opts spool.Options, log *slog.Logger) (*outbox, error) {
	o := &outbox{opts: opts, log: log, memCap: memQueueWindows}
	sp, err := spool.Open(opts, log)
	if err == nil {
		o.sp.Store(sp)
		return o, nil
	}
	if !spool.IsDiskFull(err) {
		return nil, err
	}
	o.fails.Add(1)
	seqr, serr := spool.OpenSequencer(opts.Dir)
	o.seqr = seqr
	// Windows in memory are published directly only when the spool held
	// nothing unpublished (its state file says so, or there is no spool
	// yet): a frame chain is one sequence, and the aggregator applies an
	// agent's frames in sequence order. Publishing newer windows first
	// and the spool's older batches after it opened interleaved two
	// chains, and the aggregator lost windows waiting for bases it had
	// overwritten (make chaos-agent, disk_filled_by_other: lost=2 in one
	// of two runs). Held back, they move into the spool above its
	// batches when it opens and go out in order.
	o.holdBack = seqr.Held() > 0 || (serr != nil && hasFiles(opts.Dir))
	how := "are published directly"
	if o.holdBack {
		how = fmt.Sprintf("are held back until it opens (it holds %d older batches, which go first)", seqr.Held())
	}
	log.Error("spool cannot open: the disk is full. Running without it: up to 16 windows wait in memory and "+how+"; raw history is off until the spool opens (retried every ~30 s)",
		"dir", opts.Dir, "memory_windows", memQueueWindows, "next_seq_above", seqr.Last(), "err", err)
	if serr != nil {
		log.Error("spool state file unreadable or cannot be made on the full disk; numbering batches from the clock", "dir", opts.Dir, "err", serr)
	}
	return o, nil
}

// spool returns the open spool, or nil.
func (o *outbox) spool() *spool.Spool { return o.sp.Load() }

// Append stores a batch: in the spool, or in memory while it is closed.
func (o *outbox) Append(build func(seq uint64) ([]byte, error)) (uint64, error) {
	if sp := o.spool(); sp != nil {
		return sp.Append(build)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if sp := o.spool(); sp != nil { // opened meanwhile
		return sp.Append(build)
	}
	seq, err := o.seqr.Next()
	if err != nil {
		o.log.Warn("spool state file: sequence number not written; numbering from the clock", "seq", seq, "err", err)
	}
	data, err := build(seq)
	if err != nil {
		return 0, err
	}
	if len(o.mem) >= o.memCap {
		old := o.mem[0]
		o.mem = o.mem[1:]
		o.memBytes -= int64(len(old.data))
		o.dropped++
		if !o.dropLog {
			o.dropLog = true
			o.log.Error("memory queue full while the spool is closed: dropping the oldest window for the newest (each counted in edgepulse_agent_memory_queue_dropped_total)",
				"seq", old.seq, "memory_windows", o.memCap)
		}
	} else if len(o.mem) < o.memCap-1 {
		o.dropLog = false
	}
	o.mem = append(o.mem, memBatch{seq: seq, data: data})
	o.memBytes += int64(len(data))
	return seq, nil
}

// Next returns the oldest batch above after (forward.Source).
func (o *outbox) Next(after uint64) (uint64, []byte, bool, error) {
	if sp := o.spool(); sp != nil {
		return sp.Next(after)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if sp := o.spool(); sp != nil {
		return sp.Next(after)
	}
	if o.holdBack {
		return 0, nil, false, nil
	}
	for _, b := range o.mem {
		if b.seq > after {
			return b.seq, b.data, true, nil
		}
	}
	return 0, nil, false, nil
}

// Ack forgets an acknowledged batch (forward.Source).
func (o *outbox) Ack(seq uint64) error {
	if sp := o.spool(); sp != nil {
		return sp.Ack(seq)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if sp := o.spool(); sp != nil {
		return sp.Ack(seq)
	}
	for i, b := range o.mem {
		if b.seq == seq {
			o.memBytes -= int64(len(b.data))
			o.mem = append(o.mem[:i:i], o.mem[i+1:]...)
			break
		}
	}
	return nil
}

// tryOpen opens the spool and moves the batches held in memory into it.
// It reports the spool when it opened now, and whether it held batches
// of its own (older than those in memory); nil when it was open already
// or cannot open yet (a full disk: counted) — other errors are returned.
func (o *outbox) tryOpen() (sp *spool.Spool, older bool, err error) {
	if o.spool() != nil {
		return nil, false, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	// Opened below its reserve the spool would refuse the windows held
	// here (and every new one): they wait in memory (published directly
	// unless holdBack) until the spool has room for them above the
	// reserve. Until then the
	// batches the spool held stay on the disk, not lost.
	need := o.Reserve() + o.memBytes
	if free, err := spool.DiskFreeAt(o.opts.Dir); err == nil && free < need {
		o.fails.Add(1)
		if !o.roomLog {
			o.roomLog = true
			o.log.Warn("spool stays closed: the disk has less free space than its reserve and the windows in memory need",
				"dir", o.opts.Dir, "free", free, "need", need, "reserve", o.Reserve())
		}
		return nil, false, nil
	}
	// The sequencer keeps the state file open meanwhile (the lock keeps
	// it from writing): a failed open changes nothing, so the numbers go
	// on from the last one issued, not from the next synced reservation.
	sp, err = spool.Open(o.opts, o.log)
	if err != nil {
		o.fails.Add(1)
		if spool.IsDiskFull(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if err := o.seqr.Close(); err != nil {
		o.log.Warn("spool state file: closing the sequencer's handle", "err", err)
	}
	older = sp.Stats().Batches > 0
	moved, refused := 0, 0
	for _, b := range o.mem {
		if err := sp.Adopt(b.seq, b.data); err != nil {
			// Counted by the spool (a refusal at the disk reserve is
			// spool_disk_dropped_total, as for any window).
			refused++
			o.log.Error("moving a window held in memory into the spool", "seq", b.seq, "err", err)
			continue
		}
		moved++
	}
	o.mem, o.memBytes, o.seqr = nil, 0, nil
	o.sp.Store(sp)
	o.log.Info("spool opened: the disk has room again; windows held in memory moved into it, raw history on",
		"dir", o.opts.Dir, "moved", moved, "refused", refused, "spooled", sp.Stats().Batches, "last_seq", sp.LastSeq())
	return sp, older, nil
}

// Stats returns the spool's counters (zero while it is closed).
func (o *outbox) Stats() spool.Stats {
	if sp := o.spool(); sp != nil {
		return sp.Stats()
	}
	return spool.Stats{}
}

// OutboxStats returns the outbox's state.
func (o *outbox) OutboxStats() OutboxStats {
	o.mu.Lock()
	st := OutboxStats{MemBatches: len(o.mem), MemBytes: o.memBytes, MemDropped: o.dropped, OpenFailures: o.fails.Load()}
	o.mu.Unlock()
	if sp := o.spool(); sp != nil {
		st.SpoolOpen = true
		bl := sp.BadgerLog()
		st.BadgerLogLines, st.BadgerLogHeld = bl.Lines, bl.Suppressed
	}
	return st
}

// LastSeq is the highest sequence number issued.
func (o *outbox) LastSeq() uint64 {
	if sp := o.spool(); sp != nil {
		return sp.LastSeq()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if sp := o.spool(); sp != nil {
		return sp.LastSeq()
	}
	return o.seqr.Last()
}

// Reserve is the free space the spool leaves untouched.
func (o *outbox) Reserve() int64 {
	if sp := o.spool(); sp != nil {
		return sp.Reserve()
	}
	if o.opts.DiskReserve == 0 {
		return spool.DefaultDiskReserve
	}
	return o.opts.DiskReserve
}

// DiskFree returns the bytes available in the spool's file system.
func (o *outbox) DiskFree() (int64, error) { return spool.DiskFreeAt(o.opts.Dir) }

// Room reports whether n more bytes fit above reserve (spool.Room); never
// while the spool is closed.
func (o *outbox) Room(n, reserve int64) (bool, error) {
	if sp := o.spool(); sp != nil {
		return sp.Room(n, reserve)
	}
	return false, nil
}

// DB is the spool's Badger, nil while it is closed.
func (o *outbox) DB() *badger.DB {
	if sp := o.spool(); sp != nil {
		return sp.DB()
	}
	return nil
}

// ReleasePages pages out the spool's mapped files (nothing while closed).
func (o *outbox) ReleasePages() (int64, error) {
	if sp := o.spool(); sp != nil {
		return sp.ReleasePages()
	}
	return 0, nil
}

// NewestTable is the spool's newest table ID (spool.NewestTable), 0 while
// it is closed.
func (o *outbox) NewestTable() uint64 {
	if sp := o.spool(); sp != nil {
		return sp.NewestTable()
	}
	return 0
}

// Close closes the spool, or lets go of the state file.
func (o *outbox) Close() error {
	if sp := o.spool(); sp != nil {
		return sp.Close()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seqr != nil {
		return o.seqr.Close()
	}
	return nil
}

// hasFiles reports whether dir exists and holds anything (a spool the
// state file could not describe).
func hasFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}
