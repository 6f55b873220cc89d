// Package exchange decides the RFC 8693 token exchange of a PAT, and the
// chained exchange of an access token issued from one on its owner's
// behalf (chain.go), and holds what the decision stands on: the PAT
// format, the rights algebra (covers, meet, folder inheritance), the
// usability rules of a PAT and the claims of the token issued.
//
// It decides from plain values and reads nothing itself: the token
// endpoint parses the request, reads the audience and the PAT's grant from
// the database, and answers with the Decision or the Refusal returned here.
// It knows no OAuth library (a test keeps it so), so the rules can be read
// and tested without one.
//
// The algebra and the format are pure functions. Nothing here may cache a
// PAT's usability: every exchange decides from the database as it is now.
package exchange
