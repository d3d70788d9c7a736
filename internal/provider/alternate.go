package provider

// Alternating is a pair of accounts an authority alternates between (a PostgreSQL role, a
// MySQL or NATS user): each rotation sets the new value on the account not in use, so the old
// one stays valid until revoke. A version names its account in AuthorityRef. Noun is what the
// authority calls an account ("role", "user"), for its messages.
type Alternating struct {
	Accounts [2]string
	Noun     string
}

// Next is the account a new value goes to: the one the current version is not on (the first
// on a first rotation). A current version with no account recorded is NeedsHuman — setting a
// password on the account in use would lock its consumers out — and one on an account the
// config does not name is Terminal.
func (p Alternating) Next(op string, current *Version) (string, error) {
	if current == nil {
		return p.Accounts[0], nil
	}
	switch current.AuthorityRef {
	case p.Accounts[0]:
		return p.Accounts[1], nil
	case p.Accounts[1]:
		return p.Accounts[0], nil
	case "":
		return "", Errorf(NeedsHuman, op, "the current version %s has no %s recorded, so rotor cannot tell whether %s or %s is in use, "+
			"and setting a password on the one in use would lock its consumers out; store the value again with its %s, or rotate it once by hand",
			current.ID, p.Noun, p.Accounts[0], p.Accounts[1], p.Noun)
	}
	return "", Errorf(Terminal, op, "the current version %s is a password of %s %s, which is not one of %s and %s",
		current.ID, p.Noun, current.AuthorityRef, p.Accounts[0], p.Accounts[1])
}

// Of is the account a version's value belongs to, checked against the pair.
func (p Alternating) Of(op string, v Version) (string, error) {
	switch ref := v.AuthorityRef; {
	case ref == "":
		return "", Errorf(NeedsHuman, op, "version %s has no %s recorded: rotor cannot tell whether it is %s's or %s's password", v.ID, p.Noun, p.Accounts[0], p.Accounts[1])
	case ref != p.Accounts[0] && ref != p.Accounts[1]:
		return "", Errorf(Terminal, op, "version %s is a password of %s %s, which is not one of %s and %s", v.ID, p.Noun, ref, p.Accounts[0], p.Accounts[1])
	default:
		return ref, nil
	}
}

// Revoked is the account a revoke disables: the previous version's, which must not be the
// current version's (Terminal: disabling it would lock out the value in use).
func (p Alternating) Revoked(op string, previous, current Version) (string, error) {
	prev, err := p.Of(op, previous)
	if err != nil {
		return "", err
	}
	cur, err := p.Of(op, current)
	if err != nil {
		return "", err
	}
	if cur == prev {
		return "", Errorf(Terminal, op, "the previous version %s and the current version %s are both passwords of %s %s: revoking it would lock out the current version",
			previous.ID, current.ID, p.Noun, prev)
	}
	return prev, nil
}

// Discarded is the account a cancelled run's value was set on, which must not be the current
// version's (Terminal: discarding it would lock out the value in use).
func (p Alternating) Discarded(op string, v Version, current *Version) (string, error) {
	acct, err := p.Of(op, v)
	if err != nil {
		return "", err
	}
	if current != nil && current.AuthorityRef == acct {
		return "", Errorf(Terminal, op, "version %s is for %s %s, the %s of the current version %s: discarding it would lock out the value in use",
			v.ID, p.Noun, acct, p.Noun, current.ID)
	}
	return acct, nil
}
