package authserver

import "authserver/outbox"

// EventSinks are the outbox sinks the server built from its options.
func EventSinks(s *Server) []outbox.Sink { return s.sinkList }
