//go:build cgo && !purego

package queue

func init() {
	testImpls = append(testImpls, testImpl{"cgo", func(c int) (batchQueue, error) { return newCRing(c) }, true})
}
