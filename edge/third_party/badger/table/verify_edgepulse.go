package table

import (
	"errors"

	"github.com/klauspost/compress/snappy"

	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/y"
)

// verifyChecksumScratch is VerifyChecksum for a Snappy-compressed,
// unencrypted table without a block cache. edgepulse patch: each block
// is decompressed into one scratch buffer, reused for the next, where
// Table.block takes a new buffer for every block. The agent's spool
// checks every table at start: with a day of raw history that was ~190
// MB allocated in a fraction of a second, and the GC's lag behind it
// the agent's peak RSS at start. The block's bytes in the mapping leave
// the RSS once read (y.DropPages), as in Table.block.
func (t *Table) verifyChecksumScratch() error {
	var scratch []byte
	for i := 0; i < t.offsetsLength(); i++ {
		if err := t.verifyBlockInto(i, &scratch); err != nil {
			return y.Wrapf(err, "checksum validation failed for table: %s, block: %d", t.Filename(), i)
		}
	}
	return nil
}

func (t *Table) verifyBlockInto(i int, scratch *[]byte) error {
	var ko fb.BlockOffset
	if !t.offsets(&ko, i) {
		return errors.New("block out of index")
	}
	off, size := int(ko.Offset()), int(ko.Len())
	raw, err := t.read(off, size)
	if err != nil {
		return y.Wrapf(err, "failed to read from file at offset: %d, len: %d", off, size)
	}
	n, err := snappy.DecodedLen(raw)
	if err != nil {
		return y.Wrap(err, "failed to decompress")
	}
	if cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	data, err := snappy.Decode((*scratch)[:cap(*scratch)], raw)
	y.DropPages(t.Data, off, off+size)
	if err != nil {
		return y.Wrap(err, "failed to decompress")
	}
	// The block's layout as Table.block reads it: entries, their offsets,
	// the entry count, the checksum, the checksum's length; the checksum
	// covers all before it.
	pos := len(data) - 4
	if pos < 4 {
		return errors.New("block too short")
	}
	chkLen := int(y.BytesToU32(data[pos:]))
	if chkLen > pos-4 {
		return errors.New("invalid checksum length. Either the data is " +
			"corrupted or the table options are incorrectly set")
	}
	pos -= chkLen
	b := Block{data: data[:pos], checksum: data[pos : pos+chkLen]}
	return b.verifyCheckSum()
}
