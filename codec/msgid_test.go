package codec

import "testing"

// TestSignedMsgID: the same key and batch give the same id (retries
// de-duplicate); another key gives another; the id names its agent.
func TestSignedMsgID(t *testing.T) {
	a := SignedMsgID("s1/h1", 42, []byte("key-a"))
	if a != SignedMsgID("s1/h1", 42, []byte("key-a")) {
		t.Fatal("not deterministic")
	}
	if a == SignedMsgID("s1/h1", 42, []byte("key-b")) || a == SignedMsgID("s1/h1", 43, []byte("key-a")) {
		t.Fatal("the key or the sequence does not change the id")
	}
	if SignedMsgID("s1/h1", 42, nil) != "s1/h1/42" {
		t.Fatal("without a key the id is not agent/seq")
	}
	if s, h, ok := MsgIDAgent(a); !ok || s != "s1" || h != "h1" {
		t.Fatalf("MsgIDAgent(%q) = %q %q %v", a, s, h, ok)
	}
	if _, _, ok := MsgIDAgent("junk"); ok {
		t.Fatal("MsgIDAgent accepted an id without site/host/")
	}
}
