-- Idempotency keys: a stored answer per key, purged after their retention.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

DROP POLICY IF EXISTS tenant_isolation ON idempotency_keys;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

DROP POLICY IF EXISTS purge_read ON idempotency_keys;
CREATE POLICY purge_read ON idempotency_keys FOR SELECT
    USING (current_setting('app.purge', true) = 'on');

DROP POLICY IF EXISTS purge_delete ON idempotency_keys;
CREATE POLICY purge_delete ON idempotency_keys FOR DELETE
    USING (current_setting('app.purge', true) = 'on');
