package gen

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The file is the same for the same options, spans what it says, and holds the previous key
// exactly on the lines it counts: rg -c finds what rotor must find.
func TestWrite(t *testing.T) {
	var a, b bytes.Buffer
	opts := Options{Size: 2 << 20, PreviousEvery: 50}
	sa, err := Write(&a, opts)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Write(&b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || !sa.First.Equal(sb.First) || !sa.Last.Equal(sb.Last) || sa.PreviousLines != sb.PreviousLines {
		t.Fatal("two runs with the same options differ")
	}
	if int64(a.Len()) != sa.Bytes || sa.Bytes < opts.Size {
		t.Errorf("wrote %d bytes, stats say %d, asked for %d", a.Len(), sa.Bytes, opts.Size)
	}
	if n := int64(bytes.Count(a.Bytes(), []byte{'\n'})); n != sa.Lines {
		t.Errorf("%d lines, stats say %d", n, sa.Lines)
	}
	withKey := int64(0)
	for line := range strings.Lines(a.String()) {
		if strings.Contains(line, PreviousKey) {
			withKey++
			if !strings.HasSuffix(line, ` key_id="`+PreviousKey+`"`+"\n") {
				t.Fatalf("the previous key outside the key_id field: %q", line)
			}
		}
	}
	if withKey != sa.PreviousLines || withKey == 0 {
		t.Errorf("%d lines hold the previous key, stats say %d", withKey, sa.PreviousLines)
	}
	if span := sa.Last.Sub(sa.First); span < 24*time.Hour-time.Minute || span > 24*time.Hour {
		t.Errorf("spans %s, want about 24h", span)
	}
}
