package log

// lineEnds stores in ends the offsets of the '\n' bytes of data, in order, and returns how
// many there are. ends must have room for len(data) of them (len(ends) >= len(data)), and
// data fewer than 2^31 bytes.
func lineEnds(data []byte, ends []int32) int { return lineEndsGo(data, ends) }
