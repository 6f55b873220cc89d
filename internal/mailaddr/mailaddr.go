// Package mailaddr holds the one rule for users' e-mail addresses, shared
// by governance (the API, the console, the command line) and the
// configuration's bootstrap users. It is a leaf package, as patpolicy is,
// so that config does not learn about governance.
package mailaddr

import (
	"fmt"
	"net/mail"
	"unicode/utf8"
)

// MaxLen bounds an address in bytes: the longest address a mail server
// forwards (RFC 5321 with its errata).
const MaxLen = 254

// ErrInvalid says what an address must be, without repeating it.
var ErrInvalid = fmt.Errorf("must be a single e-mail address such as name@example.com, of at most %d bytes", MaxLen)

// Check accepts "" (no address) and one plain address such as
// alice@example.com — no display name, no angle brackets, no comments, no
// list — of at most MaxLen bytes; anything else is ErrInvalid.
func Check(addr string) error {
	if addr == "" {
		return nil
	}
	if len(addr) > MaxLen || !utf8.ValidString(addr) {
		return ErrInvalid
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr {
		return ErrInvalid
	}
	return nil
}
