-- The answer to each batch of results an agent pushed, by the batch's
-- idempotency key, kept a day: a batch sent again (its answer lost on the
-- way) gets the same answer, and nothing is stored or judged twice.
CREATE TABLE agent_batches (
    agent_id      INTEGER NOT NULL REFERENCES agents (id),
    batch_key     TEXT    NOT NULL,
    received_at   TEXT    NOT NULL,
    answer        TEXT    NOT NULL,
    PRIMARY KEY (agent_id, batch_key)
);
CREATE INDEX agent_batches_received ON agent_batches (received_at);
