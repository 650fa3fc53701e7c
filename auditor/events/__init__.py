"""The event feed: EventBridge -> SQS -> micro-cycles (docs/events.md).

parse.py turns a message into the resources it names and who did it (pure); feed.py
consumes the queue; targets.py re-describes only the named resources; microcycle.py runs
them through the pipeline's stages and commits like a full cycle; enrich.py gives every
cycle the shells and callers the feed recorded.
"""
