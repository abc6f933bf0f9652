extension Migration {
    /// Background tasks, their events, and the agent's stored validation as a write of its own.
    /// - `tasks`: one row per task message, keyed by tenant and `task_id`, so a redelivered entry
    ///   finds its task and a finished one is not run again.
    /// - `outbox`: every event to announce, written in the transaction of the change it describes;
    ///   this migration writes the task events, the notifier reads them in `sequence` order.
    static let tasks: [String] = [
        """
        CREATE TABLE tasks (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            tenant_id text NOT NULL,
            id uuid NOT NULL,
            type text NOT NULL,
            status text NOT NULL,
            message jsonb NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            progress integer NOT NULL DEFAULT 0,
            checkpoint bigint,
            result jsonb,
            error jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )
        """,
        "CREATE INDEX tasks_newest ON tasks (tenant_id, seq DESC)",
        """
        CREATE TABLE outbox (
            sequence bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id uuid NOT NULL DEFAULT gen_random_uuid(),
            tenant_id text NOT NULL,
            event text NOT NULL,
            agent_id uuid,
            task_id uuid,
            global_task_id text,
            data jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        // Tasks not yet finished become `processing` with one more attempt; finished ones are
        // answered as they are. One row per task given, with the state after this call.
        """
        CREATE FUNCTION ams_start_tasks(p_tenant text, p_messages text[])
        RETURNS TABLE (message text, status text, attempts integer, progress integer, checkpoint bigint, result text, error text, updated_at timestamptz)
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            RETURN QUERY
            WITH given AS (
                SELECT m::jsonb AS message FROM unnest(p_messages) AS m
            ), started AS (
                INSERT INTO tasks AS t (tenant_id, id, type, status, message, attempts)
                SELECT p_tenant, (g.message ->> 'task_id')::uuid, g.message ->> 'type', 'processing', g.message, 1 FROM given g
                ON CONFLICT (tenant_id, id) DO UPDATE SET status = 'processing', attempts = t.attempts + 1, updated_at = now()
                    WHERE t.status NOT IN ('completed', 'failed')
                RETURNING t.message, t.status, t.attempts, t.progress, t.checkpoint, t.result, t.error, t.updated_at
            ), events AS (
                INSERT INTO outbox (tenant_id, event, task_id, global_task_id, data)
                SELECT p_tenant, 'task_status_update', (s.message ->> 'task_id')::uuid, s.message ->> 'global_task_id',
                    jsonb_build_object('status', 'processing', 'progress', s.progress, 'details', jsonb_build_object('attempt', s.attempts))
                FROM started s
            )
            SELECT s.message::text, s.status, s.attempts, s.progress, s.checkpoint, s.result::text, s.error::text, s.updated_at FROM started s
            UNION ALL
            SELECT t.message::text, t.status, t.attempts, t.progress, t.checkpoint, t.result::text, t.error::text, t.updated_at FROM tasks t
            WHERE t.tenant_id = p_tenant AND t.status IN ('completed', 'failed')
              AND t.id IN (SELECT (g.message ->> 'task_id')::uuid FROM given g);
        END
        $$
        """,
        // Each task ends once: a task already finished keeps its first outcome.
        """
        CREATE FUNCTION ams_finish_tasks(p_tenant text, p_ids uuid[], p_statuses text[], p_results text[], p_errors text[])
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
                RETURNING t.message, t.status, t.result, t.error
            )
            INSERT INTO outbox (tenant_id, event, task_id, global_task_id, data)
            SELECT p_tenant, CASE WHEN f.status = 'completed' THEN 'task_completed' ELSE 'task_failed' END,
                (f.message ->> 'task_id')::uuid, f.message ->> 'global_task_id',
                CASE WHEN f.status = 'completed' THEN coalesce(f.result, '{}')
                     ELSE jsonb_build_object('error', f.error ->> 'message', 'error_type', f.error ->> 'error_type') END
            FROM finished f;
        END
        $$
        """,
        """
        CREATE FUNCTION ams_task_progress(p_tenant text, p_id uuid, p_progress integer, p_checkpoint bigint, p_result jsonb)
        RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            WITH moved AS (
                UPDATE tasks SET progress = p_progress, checkpoint = p_checkpoint, result = p_result, updated_at = now()
                WHERE tenant_id = p_tenant AND id = p_id AND status = 'processing'
                RETURNING message, progress
            )
            INSERT INTO outbox (tenant_id, event, task_id, global_task_id, data)
            SELECT p_tenant, 'task_status_update', (m.message ->> 'task_id')::uuid, m.message ->> 'global_task_id',
                jsonb_build_object('status', 'processing', 'progress', m.progress, 'details', p_result)
            FROM moved m;
        END
        $$
        """,
        // The agent's stored validation, replaced without a new version (the configuration is the
        // same), if the row is still at `p_revision`; recorded as `validated`.
        """
        CREATE FUNCTION ams_set_validation(
            p_tenant text, p_id uuid, p_revision integer, p_validation jsonb, p_at timestamptz, p_by text, p_roles jsonb, p_request_id text
        ) RETURNS boolean LANGUAGE plpgsql AS $$
        DECLARE
            v_version integer;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            UPDATE agents SET validation = p_validation
            WHERE tenant_id = p_tenant AND id = p_id AND deleted_at IS NULL AND revision = p_revision
            RETURNING version INTO v_version;
            IF v_version IS NULL THEN
                RETURN false;
            END IF;
            PERFORM ams_record(p_tenant, p_id, 'validated', p_by, p_roles, p_at, p_request_id, v_version, NULL,
                jsonb_build_object('status', p_validation ->> 'status'));
            PERFORM pg_notify('agent_management_changes', ams_change_notice(p_tenant, p_id, v_version, false));
            RETURN true;
        END
        $$
        """,
        // After a tool catalog change, the one read across tenants: which of them use the tools.
        """
        CREATE POLICY catalog_scan ON agents FOR SELECT
            USING (deleted_at IS NULL AND current_setting('app.catalog_scan', true) = 'on')
        """,
        """
        CREATE FUNCTION ams_tenants_using_tools(p_tools text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.catalog_scan', 'on', true);
            RETURN QUERY SELECT DISTINCT a.tenant_id FROM agents a
            WHERE a.deleted_at IS NULL AND EXISTS (
                SELECT 1 FROM jsonb_array_elements(coalesce(a.config -> 'tools', '[]')) t WHERE t ->> 'id' = ANY (p_tools));
            PERFORM set_config('app.catalog_scan', 'off', true);
        END
        $$
        """,
    ] + tenantIsolation("tasks") + tenantIsolation("outbox")
}
