"""`auditor demo`: an embedded moto server, a seeded fleet with violations of every rule
family, and one full cycle against it. Moto-specific code lives in this package (and in
tests) only, never in the collectors."""
