extension Migration {
    /// Webhook endpoints and their delivery attempts. Each endpoint keeps its own position in the
    /// sequenced events (`delivered`), the attempts made at the next one, when it is due again, and
    /// a lease that hands it to one delivering replica at a time, so its events go out in order.
    /// Also: `agent_status_changed` and `agent_validated` carry the agent's name, and the cache
    /// notices ride on the events' NOTIFY (see `ams_outbox_notify` below).
    static let webhooks: [String] = [
        """
        CREATE TABLE webhooks (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            tenant_id text NOT NULL,
            id uuid NOT NULL,
            url text NOT NULL,
            events text[] NOT NULL,
            description text,
            secret text NOT NULL,
            status text NOT NULL DEFAULT 'active',
            disabled_reason text,
            consecutive_failures integer NOT NULL DEFAULT 0,
            delivered bigint NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            lease_until timestamptz,
            lease_token uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )
        """,
        "CREATE INDEX webhooks_newest ON webhooks (tenant_id, seq DESC)",
        "CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE status = 'active'",
        """
        CREATE TABLE webhook_deliveries (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            tenant_id text NOT NULL,
            webhook_id uuid NOT NULL,
            event_id uuid NOT NULL,
            event text NOT NULL,
            sequence bigint NOT NULL,
            attempt integer NOT NULL,
            attempted_at timestamptz NOT NULL,
            status_code integer,
            latency_ms double precision NOT NULL,
            error text,
            PRIMARY KEY (tenant_id, webhook_id, seq),
            FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE
        )
        """,
        "CREATE INDEX webhook_deliveries_attempted ON webhook_deliveries (attempted_at)",
    ] + tenantIsolation("webhooks") + tenantIsolation("webhook_deliveries") + [
        // The dispatcher leases every tenant's endpoints.
        """
        CREATE POLICY notifier ON webhooks
            USING (current_setting('app.notifier', true) = 'on') WITH CHECK (current_setting('app.notifier', true) = 'on')
        """,
        """
        CREATE POLICY notifier ON webhook_deliveries
            USING (current_setting('app.notifier', true) = 'on') WITH CHECK (current_setting('app.notifier', true) = 'on')
        """,
        // Due endpoints with events after their position, oldest due first, each leased for p_lease.
        """
        CREATE FUNCTION ams_claim_webhooks(p_limit integer, p_lease interval)
        RETURNS TABLE (tenant_id text, id uuid, url text, events text[], secret text, lease_token uuid, delivered bigint, attempts integer)
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.notifier', 'on', true);
            RETURN QUERY
            WITH due AS (
                SELECT w.tenant_id, w.id FROM webhooks w
                WHERE w.status = 'active' AND w.next_attempt_at <= now() AND (w.lease_until IS NULL OR w.lease_until < now())
                  AND EXISTS (SELECT 1 FROM outbox o WHERE o.tenant_id = w.tenant_id AND o.sequence > w.delivered
                      AND ('*' = ANY (w.events) OR o.event = ANY (w.events)))
                ORDER BY w.next_attempt_at LIMIT p_limit
                FOR UPDATE OF w SKIP LOCKED
            )
            UPDATE webhooks w SET lease_until = now() + p_lease, lease_token = gen_random_uuid() FROM due
            WHERE w.tenant_id = due.tenant_id AND w.id = due.id
            RETURNING w.tenant_id, w.id, w.url, w.events, w.secret, w.lease_token, w.delivered, w.attempts;
            PERFORM set_config('app.notifier', 'off', true);
        END
        $$
        """,
        // Seconds until the next endpoint waiting for a retry is due (NULL: none waits), and how far
        // the active endpoint furthest behind got (NULL: none is active), for the lag: counted up to
        // its first event not yet delivered, as a quiet tenant's position moves only with its events.
        """
        CREATE FUNCTION ams_webhooks_next_due() RETURNS TABLE (next_due double precision, behind bigint) LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.notifier', 'on', true);
            RETURN QUERY SELECT extract(epoch FROM min(w.next_attempt_at) FILTER (WHERE w.next_attempt_at > now()) - now())::double precision,
                min(coalesce((SELECT min(o.sequence) - 1 FROM outbox o WHERE o.tenant_id = w.tenant_id AND o.sequence > w.delivered),
                    (SELECT c.last FROM outbox_counter c)))
            FROM webhooks w WHERE w.status = 'active';
            PERFORM set_config('app.notifier', 'off', true);
        END
        $$
        """,
        // One attempt recorded, and the endpoint's next step: 'next' (delivered, or given up after
        // its last attempt), 'retry' (due again after p_retry_ms, lease given back) or 'stop'
        // (disabled: 410 Gone or p_failure_limit failures in a row; or the lease p_lease is no
        // longer the caller's, which then changes nothing). A disabling is announced to the tenant
        // as `webhook_disabled`, in the same transaction.
        """
        CREATE FUNCTION ams_webhook_attempt(
            p_tenant text, p_id uuid, p_lease uuid, p_event_id uuid, p_event text, p_sequence bigint, p_attempt integer, p_at timestamptz,
            p_status integer, p_latency double precision, p_error text, p_skipped bigint, p_retry_ms bigint, p_failure_limit integer
        ) RETURNS text LANGUAGE plpgsql AS $$
        DECLARE
            v_failures integer;
            v_url text;
            v_reason text;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            INSERT INTO webhook_deliveries (tenant_id, webhook_id, event_id, event, sequence, attempt, attempted_at, status_code, latency_ms, error)
            SELECT p_tenant, p_id, p_event_id, p_event, p_sequence, p_attempt, p_at, p_status, p_latency, p_error
            WHERE EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = p_tenant AND id = p_id);
            PERFORM 1 FROM webhooks WHERE tenant_id = p_tenant AND id = p_id AND lease_token = p_lease AND status = 'active' FOR UPDATE;
            IF NOT FOUND THEN
                RETURN 'stop';
            END IF;
            IF p_status BETWEEN 200 AND 299 THEN
                UPDATE webhooks SET delivered = greatest(delivered, p_sequence), attempts = 0, consecutive_failures = 0
                WHERE tenant_id = p_tenant AND id = p_id;
                RETURN 'next';
            END IF;
            UPDATE webhooks SET consecutive_failures = consecutive_failures + 1, attempts = p_attempt,
                delivered = greatest(delivered, p_skipped)
            WHERE tenant_id = p_tenant AND id = p_id
            RETURNING consecutive_failures, url INTO v_failures, v_url;
            IF p_status = 410 THEN
                v_reason := 'gone';
            ELSIF v_failures >= p_failure_limit THEN
                v_reason := 'failures';
            END IF;
            IF v_reason IS NOT NULL THEN
                UPDATE webhooks SET status = 'disabled', disabled_reason = v_reason, lease_until = NULL, lease_token = NULL, updated_at = now()
                WHERE tenant_id = p_tenant AND id = p_id;
                INSERT INTO outbox (tenant_id, event, data)
                VALUES (p_tenant, 'webhook_disabled', jsonb_build_object('webhook_id', p_id, 'url', v_url, 'reason', v_reason,
                    'consecutive_failures', v_failures, 'status_code', p_status));
                RETURN 'stop';
            END IF;
            IF p_retry_ms IS NULL THEN
                UPDATE webhooks SET delivered = greatest(delivered, p_sequence), attempts = 0 WHERE tenant_id = p_tenant AND id = p_id;
                RETURN 'next';
            END IF;
            UPDATE webhooks SET next_attempt_at = now() + make_interval(secs => p_retry_ms / 1000.0), lease_until = NULL, lease_token = NULL
            WHERE tenant_id = p_tenant AND id = p_id;
            RETURN 'retry';
        END
        $$
        """,
        // Status changes and validations name the agent too, as the orchestrator's tenant channel wants.
        """
        CREATE OR REPLACE FUNCTION ams_history_event() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            v_name text;
            v_type text;
            v_status text;
            v_validation jsonb;
            v_event text;
            v_data jsonb;
            v_task uuid;
            v_global text;
        BEGIN
            SELECT name, type, status, validation INTO v_name, v_type, v_status, v_validation FROM agents WHERE id = NEW.agent_id;
            CASE NEW.action
                WHEN 'created' THEN
                    v_event := 'agent_created';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name, 'agent_type', v_type,
                        'version', NEW.version, 'status', v_status);
                WHEN 'updated', 'rolled_back' THEN
                    v_event := 'agent_updated';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name, 'version', NEW.version,
                        'changes', coalesce(NEW.changes,
                            (SELECT changes FROM agent_versions WHERE agent_id = NEW.agent_id AND version = NEW.version), '[]'));
                WHEN 'status_changed' THEN
                    v_event := 'agent_status_changed';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name, 'from', NEW.details -> 'from',
                        'to', NEW.details -> 'to', 'reason', NEW.details -> 'reason');
                WHEN 'deleted' THEN
                    v_event := 'agent_deleted';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name);
                WHEN 'restored' THEN
                    v_event := 'agent_restored';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name);
                WHEN 'validated' THEN
                    v_event := 'agent_validated';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name, 'version', NEW.version,
                        'status', v_validation -> 'status', 'issues', coalesce(v_validation -> 'issues', '[]'));
                ELSE
                    RETURN NULL;
            END CASE;
            IF NEW.request_id ~ '^task:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
                v_task := substr(NEW.request_id, 6)::uuid;
                SELECT message ->> 'global_task_id' INTO v_global FROM tasks WHERE tenant_id = NEW.tenant_id AND id = v_task;
            END IF;
            INSERT INTO outbox (tenant_id, event, agent_id, task_id, global_task_id, data)
            VALUES (NEW.tenant_id, v_event, NEW.agent_id, v_task, v_global, v_data);
            RETURN NULL;
        END
        $$
        """,
        // The caches of every replica follow the committed events: each agent event's NOTIFY on
        // `ams_outbox` carries the change notice (tenant, agent, revision or deleted) that the
        // listener applies, besides waking the notifier; other events wake it with an empty one.
        // The write functions' own notices on `agent_management_changes` stay only for replicas of
        // the previous release during a rolling deploy; this release ignores agent notices there.
        """
        CREATE OR REPLACE FUNCTION ams_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            r record;
            v_told boolean := false;
        BEGIN
            FOR r IN SELECT a.tenant_id, a.agent_id, a.event FROM added a
                WHERE a.agent_id IS NOT NULL AND a.event IN ('agent_created', 'agent_updated', 'agent_deleted', 'agent_restored',
                    'agent_status_changed', 'agent_validated')
                ORDER BY a.id
            LOOP
                PERFORM pg_notify('ams_outbox', ams_change_notice(r.tenant_id, r.agent_id, NULL, r.event = 'agent_deleted'));
                v_told := true;
            END LOOP;
            IF NOT v_told AND EXISTS (SELECT 1 FROM added) THEN
                PERFORM pg_notify('ams_outbox', '');
            END IF;
            RETURN NULL;
        END
        $$
        """,
        // As ams_sequence_outbox, but answers the rows it sequenced, so that the leader hands them to
        // its sinks without reading them back (ams_sequence_outbox stays for the previous release).
        """
        CREATE FUNCTION ams_sequence_outbox_events(p_limit integer)
        RETURNS TABLE (sequence bigint, event_id uuid, tenant_id text, event text, agent_id uuid, task_id uuid, global_task_id text,
            data text, created_at timestamptz)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_last bigint;
            v_count integer;
        BEGIN
            PERFORM set_config('app.notifier', 'on', true);
            SELECT c.last INTO v_last FROM outbox_counter c FOR UPDATE;
            RETURN QUERY
            WITH next AS (
                SELECT o.id, v_last + row_number() OVER (ORDER BY o.id) AS n FROM outbox o WHERE o.sequence IS NULL ORDER BY o.id LIMIT p_limit
            )
            UPDATE outbox o SET sequence = next.n FROM next WHERE o.id = next.id
            RETURNING o.sequence, o.event_id, o.tenant_id, o.event, o.agent_id, o.task_id, o.global_task_id, o.data::text, o.created_at;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            IF v_count > 0 THEN
                UPDATE outbox_counter SET last = v_last + v_count;
                PERFORM pg_notify('ams_events', (v_last + v_count)::text);
            END IF;
            PERFORM set_config('app.notifier', 'off', true);
        END
        $$
        """,
        // Attempts older than the retention go, a batch at a time.
        """
        CREATE FUNCTION ams_purge_webhook_deliveries(p_retention interval, p_batch integer) RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            v_count integer;
        BEGIN
            PERFORM set_config('app.notifier', 'on', true);
            DELETE FROM webhook_deliveries WHERE (tenant_id, webhook_id, seq) IN (
                SELECT tenant_id, webhook_id, seq FROM webhook_deliveries WHERE attempted_at < now() - p_retention LIMIT p_batch);
            GET DIAGNOSTICS v_count = ROW_COUNT;
            RETURN v_count;
        END
        $$
        """,
    ]
}
