extension Migration {
    /// Every committed change announces itself: triggers write the event of each agent history entry
    /// and of each template write into `outbox`, in the transaction of the change, and wake the
    /// notifier with a `NOTIFY ams_outbox` that is sent only if that transaction commits.
    ///
    /// Rows get their `sequence` from `ams_sequence_outbox`, in the order they became visible (an
    /// identity taken at insert would not be commit order: a later number can commit first, and a
    /// reader past it would skip the earlier one). One agent's changes commit one after the other
    /// (its row is locked), so they are sequenced in that order too. `outbox_sinks` holds the
    /// delivered position of each sink shared by the replicas.
    static let events: [String] = [
        "ALTER TABLE outbox RENAME COLUMN sequence TO id",
        "ALTER TABLE outbox ADD COLUMN sequence bigint",
        "CREATE UNIQUE INDEX outbox_sequence ON outbox (sequence)",
        "CREATE INDEX outbox_unsequenced ON outbox (id) WHERE sequence IS NULL",
        "CREATE INDEX outbox_tenant ON outbox (tenant_id, sequence) WHERE sequence IS NOT NULL",
        "CREATE INDEX outbox_created ON outbox (created_at) WHERE sequence IS NOT NULL",
        // The newest sequence given, and the newest one purged (a replay from before it has gaps).
        "CREATE TABLE outbox_counter (last bigint NOT NULL, purged_through bigint NOT NULL)",
        "INSERT INTO outbox_counter VALUES (0, 0)",
        """
        CREATE TABLE outbox_sinks (
            name text PRIMARY KEY,
            delivered bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        // The notifier reads and sequences every tenant's events.
        """
        CREATE POLICY notifier ON outbox
            USING (current_setting('app.notifier', true) = 'on') WITH CHECK (current_setting('app.notifier', true) = 'on')
        """,
        // Only a statement that added rows notifies (a notifying commit takes a database-wide lock).
        """
        CREATE FUNCTION ams_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM added) THEN
                PERFORM pg_notify('ams_outbox', '');
            END IF;
            RETURN NULL;
        END
        $$
        """,
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ams_outbox_notify()",
        // The event of a history entry. A change made by a task names it (its request id is
        // `task:<id>`), with the orchestrator's id of that task.
        """
        CREATE FUNCTION ams_history_event() RETURNS trigger LANGUAGE plpgsql AS $$
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
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'from', NEW.details -> 'from', 'to', NEW.details -> 'to',
                        'reason', NEW.details -> 'reason');
                WHEN 'deleted' THEN
                    v_event := 'agent_deleted';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name);
                WHEN 'restored' THEN
                    v_event := 'agent_restored';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name);
                WHEN 'validated' THEN
                    v_event := 'agent_validated';
                    v_data := jsonb_build_object('agent_id', NEW.agent_id, 'version', NEW.version,
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
        "CREATE TRIGGER agent_history_event AFTER INSERT ON agent_history FOR EACH ROW EXECUTE FUNCTION ams_history_event()",
        """
        CREATE FUNCTION ams_template_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO outbox (tenant_id, event, data)
            VALUES (NEW.tenant_id, CASE TG_OP WHEN 'INSERT' THEN 'agent_template_created' ELSE 'template_updated' END,
                jsonb_build_object('template_id', NEW.id, 'template_name', NEW.name, 'category', NEW.category, 'version', NEW.version));
            RETURN NULL;
        END
        $$
        """,
        "CREATE TRIGGER agent_templates_event AFTER INSERT OR UPDATE ON agent_templates FOR EACH ROW EXECUTE FUNCTION ams_template_event()",
        // Up to p_limit committed rows without a sequence get the next numbers, in insert order; the
        // counter's row lock makes callers take turns, and each reads the rows after the lock is
        // its. Every replica hears the newest sequence (`ams_events`) when this commits. Returns it.
        """
        CREATE FUNCTION ams_sequence_outbox(p_limit integer) RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE
            v_last bigint;
            v_count integer;
        BEGIN
            PERFORM set_config('app.notifier', 'on', true);
            SELECT last INTO v_last FROM outbox_counter FOR UPDATE;
            WITH next AS (
                SELECT id, v_last + row_number() OVER (ORDER BY id) AS sequence FROM outbox WHERE sequence IS NULL ORDER BY id LIMIT p_limit
            )
            UPDATE outbox o SET sequence = n.sequence FROM next n WHERE o.id = n.id;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            IF v_count > 0 THEN
                UPDATE outbox_counter SET last = v_last + v_count;
                PERFORM pg_notify('ams_events', (v_last + v_count)::text);
            END IF;
            RETURN v_last + v_count;
        END
        $$
        """,
        // Every tenant's events after a sequence, in order.
        """
        CREATE FUNCTION ams_outbox_after(p_after bigint, p_limit integer)
        RETURNS TABLE (sequence bigint, event_id uuid, tenant_id text, event text, agent_id uuid, task_id uuid, global_task_id text,
            data text, created_at timestamptz)
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.notifier', 'on', true);
            RETURN QUERY SELECT o.sequence, o.event_id, o.tenant_id, o.event, o.agent_id, o.task_id, o.global_task_id, o.data::text, o.created_at
                FROM outbox o WHERE o.sequence > p_after ORDER BY o.sequence LIMIT p_limit;
            PERFORM set_config('app.notifier', 'off', true);
        END
        $$
        """,
        // Sequenced events older than the retention go, oldest first, a batch at a time, but none a
        // shared sink has yet to deliver (unless the sink has not moved for the whole retention).
        // The counter is locked first, in the sequencer's order.
        """
        CREATE FUNCTION ams_purge_outbox(p_retention interval, p_batch integer) RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            v_through bigint;
            v_count integer;
            v_kept bigint;
        BEGIN
            PERFORM set_config('app.notifier', 'on', true);
            PERFORM 1 FROM outbox_counter FOR UPDATE;
            SELECT min(delivered) INTO v_kept FROM outbox_sinks WHERE updated_at > now() - p_retention;
            WITH gone AS (
                DELETE FROM outbox WHERE id IN (
                    SELECT id FROM outbox
                    WHERE created_at < now() - p_retention AND sequence IS NOT NULL AND sequence <= coalesce(v_kept, sequence)
                    ORDER BY created_at LIMIT p_batch)
                RETURNING sequence
            )
            SELECT max(sequence), count(*) INTO v_through, v_count FROM gone;
            IF v_count > 0 THEN
                UPDATE outbox_counter SET purged_through = greatest(purged_through, v_through);
            END IF;
            RETURN v_count;
        END
        $$
        """,
        // The task events written before this migration are sequenced here, and counted as
        // delivered to Redis: a first deploy does not flood the tenants' streams with old events.
        "SELECT set_config('app.notifier', 'on', true)",
        """
        WITH numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS sequence FROM outbox)
        UPDATE outbox o SET sequence = n.sequence FROM numbered n WHERE o.id = n.id
        """,
        "UPDATE outbox_counter SET last = (SELECT count(*) FROM outbox)",
        "INSERT INTO outbox_sinks (name, delivered) SELECT 'redis', last FROM outbox_counter",
        // A finished validation of a configuration is also announced as `validation_complete`.
        """
        CREATE OR REPLACE FUNCTION ams_finish_tasks(p_tenant text, p_ids uuid[], p_statuses text[], p_results text[], p_errors text[])
        RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            WITH given AS (
                SELECT * FROM unnest(p_ids, p_statuses, p_results, p_errors) AS g(id, status, result, error)
            ), finished AS (
                UPDATE tasks t SET status = g.status, result = nullif(g.result, '')::jsonb, error = nullif(g.error, '')::jsonb,
                    progress = CASE WHEN g.status = 'completed' THEN 100 ELSE t.progress END, updated_at = now()
                FROM given g
                WHERE t.tenant_id = p_tenant AND t.id = g.id AND t.status NOT IN ('completed', 'failed')
                RETURNING t.id, t.type, t.message ->> 'global_task_id' AS global_task_id, t.status, t.result, t.error
            )
            INSERT INTO outbox (tenant_id, event, agent_id, task_id, global_task_id, data)
            SELECT p_tenant, e.event, (f.result ->> 'agent_id')::uuid, f.id, f.global_task_id,
                CASE WHEN f.status = 'completed' THEN coalesce(f.result, '{}')
                     ELSE jsonb_build_object('error', f.error ->> 'message', 'error_type', f.error ->> 'error_type') END
            FROM finished f
            CROSS JOIN LATERAL (
                SELECT CASE WHEN f.status = 'completed' THEN 'task_completed' ELSE 'task_failed' END AS event, 1 AS n
                UNION ALL
                SELECT 'validation_complete', 0 WHERE f.status = 'completed' AND f.type = 'agent_validate'
            ) e
            ORDER BY f.id, e.n;
        END
        $$
        """,
    ]
}
