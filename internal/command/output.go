package command

import (
	"fmt"
	"io"
	"strings"
)

// Truncated is an io.Writer that keeps the first Limit bytes and the last Limit bytes of what
// is written to it, and counts the rest: a program's output in bounded memory, with both the
// start (what it was doing) and the end (why it stopped).
type Truncated struct {
	Limit int
	head  []byte
	tail  []byte // ring buffer of the last Limit bytes once head is full
	next  int    // where the ring writes next
	total int64
}

// Write keeps what fits; it never fails.
func (t *Truncated) Write(p []byte) (int, error) {
	n := len(p)
	t.total += int64(n)
	if room := t.Limit - len(t.head); room > 0 {
		k := min(room, len(p))
		t.head = append(t.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 || t.Limit <= 0 {
		return n, nil
	}
	if len(p) >= t.Limit {
		t.tail = append(t.tail[:0], p[len(p)-t.Limit:]...)
		t.next = 0
		return n, nil
	}
	for len(p) > 0 {
		if len(t.tail) < t.Limit {
			k := min(t.Limit-len(t.tail), len(p))
			t.tail = append(t.tail, p[:k]...)
			p = p[k:]
			t.next = len(t.tail) % t.Limit
			continue
		}
		k := copy(t.tail[t.next:], p)
		p = p[k:]
		t.next = (t.next + k) % t.Limit
	}
	return n, nil
}

// ReadFrom reads r to its end into t. os/exec copies a program's output with io.Copy, which
// uses ReadFrom when the writer has it: through a 4 KiB buffer here, instead of the 32 KiB
// io.Copy would allocate per stream and per run.
func (t *Truncated) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			t.Write(buf[:k])
			n += int64(k)
		}
		switch {
		case err == io.EOF:
			return n, nil
		case err != nil:
			return n, err
		}
	}
}

// Len is how many bytes were written in all.
func (t *Truncated) Len() int64 { return t.total }

// String returns the kept output: all of it when it fit, else its start, a marker saying how
// many bytes were left out, and its end. Invalid UTF-8 is replaced.
func (t *Truncated) String() string {
	var b strings.Builder
	b.Write(t.head)
	if len(t.tail) > 0 {
		omitted := t.total - int64(len(t.head)) - int64(len(t.tail))
		if omitted > 0 {
			fmt.Fprintf(&b, "\n[… %d bytes omitted …]\n", omitted)
		}
		b.Write(t.tail[t.next:])
		b.Write(t.tail[:t.next])
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}
