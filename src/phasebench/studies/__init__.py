"""The optional studies (config `studies:`), each behind its notebook: not part of the
benchmark's library, which they use (`phasebench.attention`, `phasebench.layers`)."""
