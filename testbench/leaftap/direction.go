package leaftap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/klauspost/compress/s2"
)

// maxLine bounds a protocol line (INFO carries the server's JSON, a few KB)
// and maxChunk an s2 chunk (s2 blocks are at most 4 MiB plus framing).
const (
	maxLine  = 1 << 20
	maxChunk = 5 << 20
)

// direction is one direction of a connection: the s2 chunk reader and the
// protocol parser, fed by one goroutine.
type direction struct {
	c  *conn
	up bool

	compressed bool   // switched to s2
	chunk      []byte // s2: the chunk being assembled (header included)
	pending    int    // s2: framing bytes waiting to be charged with the next data chunk
	failed     bool   // a parse error: the rest is counted as unparsed

	// The protocol parser.
	line    []byte // the operation line being read
	payload int    // message bytes (payload and its CRLF) still to come
	kind    string // the kind the current operation is charged to

	// Charges of the data being fed, flushed per chunk (or per Write in
	// the clear). Bytes of a line not yet complete are counted under ""
	// and their share of the wire is carried until the line's kind is
	// known.
	plain, ops  map[string]uint64
	lineCounted int     // bytes of line counted under "" already
	carryWire   float64 // the wire charged to them
	carryPlain  uint64
}

// Write feeds bytes the proxy forwarded; it never fails.
func (d *direction) Write(p []byte) (int, error) {
	n := len(p)
	if d.failed {
		d.c.m.addUnparsed(n)
		return n, nil
	}
	if err := d.feed(p); err != nil {
		d.failed = true
		d.c.m.addUnparsed(len(d.chunk) + len(d.line))
		d.chunk, d.line = nil, nil
	}
	return n, nil
}

func (d *direction) reset() {
	if d.plain == nil {
		d.plain, d.ops = map[string]uint64{}, map[string]uint64{}
	}
	clear(d.plain)
	clear(d.ops)
}

// feed reads wire bytes: in the clear up to the switch to s2, chunks
// after it.
func (d *direction) feed(p []byte) error {
	for len(p) > 0 {
		if !d.compressed {
			d.reset()
			n, err := d.parse(p, true)
			d.charge(float64(n))
			if err != nil {
				return err
			}
			p = p[n:]
			continue
		}
		// s2: 1 byte type, 3 bytes length, then the chunk.
		if len(d.chunk) < 4 {
			k := min(4-len(d.chunk), len(p))
			d.chunk = append(d.chunk, p[:k]...)
			p = p[k:]
			continue
		}
		size := 4 + (int(d.chunk[1]) | int(d.chunk[2])<<8 | int(d.chunk[3])<<16)
		if size > maxChunk {
			return fmt.Errorf("leaftap: s2 chunk of %d bytes", size)
		}
		k := min(size-len(d.chunk), len(p))
		d.chunk = append(d.chunk, p[:k]...)
		p = p[k:]
		if len(d.chunk) < size {
			continue
		}
		if err := d.chunkDone(); err != nil {
			return err
		}
		d.chunk = d.chunk[:0]
	}
	return nil
}

var errChecksum = errors.New("leaftap: s2 chunk checksum mismatch")

// chunkDone handles a whole s2 chunk.
func (d *direction) chunkDone() error {
	typ, body := d.chunk[0], d.chunk[4:]
	var data []byte
	switch typ {
	case 0x00, 0x01: // compressed, uncompressed: CRC then data
		if len(body) < 4 {
			return fmt.Errorf("leaftap: s2 data chunk of %d bytes", len(body))
		}
		crc := binary.LittleEndian.Uint32(body)
		data = body[4:]
		if typ == 0x00 {
			var err error
			if data, err = s2.Decode(nil, data); err != nil {
				return fmt.Errorf("leaftap: s2 chunk: %w", err)
			}
		}
		if maskedCRC(data) != crc {
			return errChecksum
		}
	default: // stream identifier, padding, skippable, index: framing
		d.pending += len(d.chunk)
		return nil
	}
	d.reset()
	if _, err := d.parse(data, false); err != nil {
		return err
	}
	d.charge(float64(d.pending + len(d.chunk)))
	d.pending = 0
	return nil
}

// charge splits wire bytes over the kinds of the plain bytes they carried.
func (d *direction) charge(wire float64) {
	var total uint64
	for _, n := range d.plain {
		total += n
	}
	if total == 0 {
		d.carryWire += wire // framing alone: charged with what follows
		return
	}
	for kind, n := range d.plain {
		share := wire * float64(n) / float64(total)
		if kind == "" {
			d.carryWire += share
			d.carryPlain += n
			continue
		}
		d.c.m.add(Key{Kind: kind, Up: d.up}, Counts{Wire: share, Plain: n, Ops: d.ops[kind]})
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is s2's (and snappy's) masked CRC-32C of the uncompressed data.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return c>>15 | c<<17 + 0xa282ead8
}

// parse feeds protocol bytes to the parser, adding each byte to the kind
// of the operation it belongs to. In the clear it stops before a byte
// that starts an s2 stream at an operation boundary (switching to s2) and
// returns how many bytes it consumed.
func (d *direction) parse(p []byte, clear bool) (int, error) {
	i := 0
	for i < len(p) {
		if d.payload > 0 {
			k := min(d.payload, len(p)-i)
			d.plain[d.kind] += uint64(k)
			d.payload -= k
			i += k
			continue
		}
		if len(d.line) == 0 && clear && p[i] == 0xff {
			d.compressed = true
			return i, nil
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			d.line = append(d.line, p[i:]...)
			if len(d.line) > maxLine {
				return i, fmt.Errorf("leaftap: protocol line over %d bytes", maxLine)
			}
			// Its kind is known once the line is complete.
			d.plain[""] += uint64(len(p) - i)
			d.lineCounted = len(d.line)
			return len(p), nil
		}
		d.line = append(d.line, p[i:i+j+1]...)
		i += j + 1
		if err := d.operation(); err != nil {
			return i, err
		}
		d.line = d.line[:0]
	}
	return i, nil
}

// operation classifies a complete protocol line and charges it; a
// message's payload follows it.
func (d *direction) operation() error {
	line := bytes.TrimRight(d.line, "\r\n")
	verb, rest, _ := bytes.Cut(line, []byte(" "))
	op := Op{Up: d.up, Verb: string(bytes.ToUpper(verb))}
	args := bytes.Fields(rest)
	switch op.Verb {
	case "LMSG", "HMSG", "MSG", "HPUB", "PUB":
		if err := messageArgs(&op, args); err != nil {
			return fmt.Errorf("leaftap: %q: %w", line, err)
		}
		op.RequestKind = d.c.requestKind(op.Subject)
	case "LS+", "LS-":
		if len(args) >= 2 {
			op.Subject = string(args[1]) // account, subject [queue weight]
		}
	}
	d.kind = d.c.m.classify(op)
	if op.Reply != "" {
		d.c.remember(op.Reply, d.kind)
	}
	d.plain[d.kind] += uint64(len(d.line) - d.lineCounted)
	d.lineCounted = 0
	if d.carryPlain > 0 {
		d.c.m.add(Key{Kind: d.kind, Up: d.up}, Counts{Wire: d.carryWire, Plain: d.carryPlain})
		d.carryWire, d.carryPlain = 0, 0
	}
	d.ops[d.kind]++
	if op.Size > 0 || op.Verb == "LMSG" || op.Verb == "HMSG" || op.Verb == "MSG" || op.Verb == "PUB" || op.Verb == "HPUB" {
		d.payload = op.Size + 2
	}
	return nil
}

// messageArgs reads a message line's arguments: subject, then the reply
// (LMSG/HMSG from a leaf: "+ reply queues…" or "| queues…" when queues
// follow), then for headers the header size, then the total size.
func messageArgs(op *Op, args [][]byte) error {
	hdr := op.Verb == "HMSG" || op.Verb == "HPUB"
	need := 2
	if hdr {
		need = 3
	}
	if len(args) < need {
		return fmt.Errorf("%d arguments, want at least %d", len(args), need)
	}
	size, err := strconv.Atoi(string(args[len(args)-1]))
	if err != nil || size < 0 {
		return fmt.Errorf("bad size %q", args[len(args)-1])
	}
	op.Size = size
	op.Subject = string(args[0])
	mid := args[1 : len(args)-1]
	if hdr {
		if op.Header, err = strconv.Atoi(string(mid[len(mid)-1])); err != nil || op.Header < 0 || op.Header > size {
			return fmt.Errorf("bad header size %q", mid[len(mid)-1])
		}
		mid = mid[:len(mid)-1]
	}
	switch {
	case len(mid) == 0:
	case len(mid[0]) == 1 && mid[0][0] == '+':
		if len(mid) < 2 {
			return errors.New("reply indicator without a reply")
		}
		op.Reply = string(mid[1])
	case len(mid[0]) == 1 && mid[0][0] == '|':
	default:
		op.Reply = string(mid[0])
	}
	return nil
}
