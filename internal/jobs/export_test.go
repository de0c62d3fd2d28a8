package jobs

import "github.com/nats-io/nats.go/jetstream"

// WrapLaneConsumers makes r wrap every lane consumer it binds with f (a
// test's fault injection, such as lost acks). Call it before Run.
func WrapLaneConsumers(r *Runner, f func(jetstream.Consumer) jetstream.Consumer) { r.wrapLane = f }
