package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a place in an inventory file. Line and Col are 1-based; a zero Line means the
// whole file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem in the inventory, at one place.
type Error struct {
	Pos Pos
	Msg string
}

func (e Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every problem found in one load, sorted by file, line and column. A load that
// returns an ErrorList has produced no model: nothing may be executed from it.
type ErrorList []Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (l ErrorList) sorted() ErrorList {
	slices.SortStableFunc(l, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(l, func(a, b Error) bool { return a == b })
}

// errs collects errors; the loader passes one around instead of returning early.
type errs struct{ list ErrorList }

func (e *errs) add(p Pos, format string, args ...any) {
	e.list = append(e.list, Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}
