package pemfiles

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/rotorhq/rotor/internal/provider"
)

// Pinning: a consumer listed under `consumers:` reads its own directory, D/<subdir>/, with its
// own ..live (a relative link into the shared D/.versions) and its own visible names. Whether
// it follows current or stays on a version is recorded in D/.versions/rotor-pins.json; the
// links are made to agree with that record by Pin, Unpin and every Promote. The record is
// written first, so a crash between the two leaves a record that the retried call (or the
// next Promote) carries out, never a link that nothing remembers.

// pinnedTo lists the consumers pinned to id, sorted.
func (st *state) pinnedTo(id string) []string {
	var out []string
	for c, v := range st.pins {
		if v == id {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// checkPins refuses to go on when a pin names a version that is not on disk (someone removed
// it by hand): that consumer's files are gone, and no promote should hide it.
func (s *Store) checkPins(op string, st *state) error {
	for _, c := range sortedKeys(st.pins) {
		if st.metas[st.pins[c]] == nil {
			return provider.Errorf(provider.NeedsHuman, op, "consumer %s is pinned to version %s, which is no longer in %s; restore it or unpin %s",
				c, st.pins[c], filepath.Join(s.dir, versionsDir), c)
		}
	}
	return nil
}

// consumerDir makes a consumer's directory if it is missing. One that exists is the
// operator's (its mode and owner are left alone); one rotor makes must be searchable by the
// consumer whatever rotor's umask.
func (s *Store) consumerDir(op, consumer string) error {
	d := filepath.Join(s.dir, s.consumers[consumer])
	fi, err := os.Lstat(d)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return provider.Errorf(provider.Terminal, op, "%s (the directory of consumer %s) is not a directory; move it away or choose another name under consumers:", d, consumer)
	case !errors.Is(err, fs.ErrNotExist):
		return fsError(op, err)
	}
	if err := os.Mkdir(d, dirMode); err != nil {
		return fsError(op, err)
	}
	if err := os.Chmod(d, dirMode); err != nil {
		return fsError(op, err)
	}
	return fsError(op, syncDir(s.dir))
}

// syncConsumer points a listed consumer's ..live at its pin, or at current when it has none,
// and makes its visible names. Before the first promote an unpinned consumer has nothing to
// read, like D itself.
func (s *Store) syncConsumer(op string, st *state, consumer string) error {
	if err := s.consumerDir(op, consumer); err != nil {
		return err
	}
	id := st.current
	if p, ok := st.pins[consumer]; ok {
		id = p
	}
	if id == "" {
		return nil
	}
	if st.metas[id] == nil {
		return provider.Errorf(provider.NeedsHuman, op, "consumer %s should read version %s, which is no longer in %s; restore it or unpin %s",
			consumer, id, filepath.Join(s.dir, versionsDir), consumer)
	}
	d := filepath.Join(s.dir, s.consumers[consumer])
	want := "../" + versionsDir + "/" + id
	if got, err := os.Readlink(filepath.Join(d, liveName)); err != nil || got != want {
		if err := s.swapLink(op, d, want); err != nil {
			return err
		}
	}
	return s.visible(op, d)
}

// writePins replaces the pin record atomically and durably.
func (s *Store) writePins(op string, pins map[string]string) error {
	vdir := filepath.Join(s.dir, versionsDir)
	b, err := json.MarshalIndent(pins, "", "  ")
	if err != nil {
		return provider.Wrap(provider.Terminal, op, err)
	}
	tmp := filepath.Join(vdir, tempPrefix+pinsName)
	os.Remove(tmp)
	if err := writeFile(tmp, append(b, '\n'), metaMode, -1, -1); err != nil {
		return fsError(op, err)
	}
	if err := os.Rename(tmp, filepath.Join(vdir, pinsName)); err != nil {
		os.Remove(tmp)
		return fsError(op, err)
	}
	return fsError(op, syncDir(vdir))
}

// notListed is the error for a consumer that reads D itself: its files are every other
// consumer's too, so it cannot be held back alone.
func (s *Store) notListed(op, consumer string) error {
	return provider.Errorf(provider.Terminal, op, "consumer %s reads %s itself; list it under consumers: (consumer id: subdirectory) in the pem-files store and point it at that subdirectory to pin it alone", consumer, s.dir)
}

// Pin implements provider.Pinner: the pin is recorded, then the consumer's ..live is switched
// to the version with one rename, so the consumer never sees a certificate with another
// version's key. The version must be on disk and enabled. Pinning again is a no-op; a retry
// after a crash finishes the switch.
func (s *Store) Pin(ctx context.Context, req provider.PinRequest) error {
	return s.pin(ctx, req, true)
}

// pin records the pin and, when finish is set, carries it out (tests stop before that step
// to play a crash).
func (s *Store) pin(ctx context.Context, req provider.PinRequest, finish bool) error {
	const op = "pin consumer"
	if req.Consumer == "" {
		return provider.Errorf(provider.Terminal, op, "no consumer named")
	}
	if _, ok := s.consumers[req.Consumer]; !ok {
		return s.notListed(op, req.Consumer)
	}
	if req.Version == "" {
		return provider.Errorf(provider.Terminal, op, "no version to pin consumer %s to", req.Consumer)
	}
	return s.update(ctx, op, func(st *state) error {
		m := st.metas[req.Version]
		if m == nil {
			return provider.Errorf(provider.Terminal, op, "version %q (never written, or pruned): %w", req.Version, provider.ErrNotFound)
		}
		if m.Disabled {
			return provider.Errorf(provider.Terminal, op, "version %s is disabled: enable it before pinning consumer %s to it", req.Version, req.Consumer)
		}
		if st.pins[req.Consumer] != req.Version {
			pins := maps.Clone(st.pins)
			pins[req.Consumer] = req.Version
			if err := s.writePins(op, pins); err != nil {
				return err
			}
			st.pins = pins
		}
		if !finish {
			return nil
		}
		return s.syncConsumer(op, st, req.Consumer)
	})
}

// Unpin implements provider.Pinner: the pin is removed, then the consumer's ..live is
// switched back to current (req.Version is not needed). Unpinning a consumer that is not
// pinned succeeds, and so does unpinning one that reads D itself (it follows current
// already); a retry after a crash finishes the switch.
func (s *Store) Unpin(ctx context.Context, req provider.PinRequest) error {
	return s.unpin(ctx, req, true)
}

func (s *Store) unpin(ctx context.Context, req provider.PinRequest, finish bool) error {
	const op = "unpin consumer"
	if req.Consumer == "" {
		return provider.Errorf(provider.Terminal, op, "no consumer named")
	}
	return s.update(ctx, op, func(st *state) error {
		if _, ok := st.pins[req.Consumer]; ok {
			pins := maps.Clone(st.pins)
			delete(pins, req.Consumer)
			if err := s.writePins(op, pins); err != nil {
				return err
			}
			st.pins = pins
		}
		if _, listed := s.consumers[req.Consumer]; !listed || !finish {
			// A pin of a consumer no longer listed (the config changed) only loses its record:
			// rotor no longer knows that consumer's directory.
			return nil
		}
		return s.syncConsumer(op, st, req.Consumer)
	})
}
