// Package exchange is the RFC 8693 token-exchange grant and what it stands
// on: the PAT format, the rights algebra (covers, meet, folder inheritance)
// and the usability rules of a PAT.
//
// The algebra and the format are pure functions. Nothing here may cache a
// PAT's usability: every exchange decides from the database as it is now.
package exchange
