extension Migration {
    /// `ams_start_tasks` looked up the batch's finished tasks with a subquery that was evaluated
    /// again for every finished task of the tenant, so a batch cost grew with the tenant's history;
    /// the ids are now parsed once. Task rows leave room on their page for the update that
    /// finishes them, so that update need not touch the indexes.
    static let taskBatches: [String] = [
        "ALTER TABLE tasks SET (fillfactor = 70)",
        """
        CREATE OR REPLACE FUNCTION ams_start_tasks(p_tenant text, p_messages text[])
        RETURNS TABLE (task_id uuid, status text, attempts integer, progress integer, checkpoint bigint, result text, error text, updated_at timestamptz)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_given jsonb[];
            v_ids uuid[];
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            PERFORM set_config('synchronous_commit', 'off', true);
            SELECT array_agg(m::jsonb), array_agg((m::jsonb ->> 'task_id')::uuid) INTO v_given, v_ids FROM unnest(p_messages) AS m;
            RETURN QUERY
            WITH started AS (
                INSERT INTO tasks AS t (tenant_id, id, type, status, message, attempts)
                SELECT p_tenant, (g ->> 'task_id')::uuid, g ->> 'type', 'processing', g, 1 FROM unnest(v_given) AS g
                ON CONFLICT (tenant_id, id) DO UPDATE SET status = 'processing', attempts = t.attempts + 1, updated_at = now()
                    WHERE t.status NOT IN ('completed', 'failed')
                RETURNING t.id, t.message, t.status, t.attempts, t.progress, t.checkpoint, t.result, t.error, t.updated_at
            ), events AS (
                INSERT INTO outbox (tenant_id, event, task_id, global_task_id, data)
                SELECT p_tenant, 'task_status_update', s.id, s.message ->> 'global_task_id',
                    jsonb_build_object('status', 'processing', 'progress', s.progress, 'details', jsonb_build_object('attempt', s.attempts))
                FROM started s
            )
            SELECT s.id, s.status, s.attempts, s.progress, s.checkpoint, s.result::text, s.error::text, s.updated_at FROM started s
            UNION ALL
            SELECT t.id, t.status, t.attempts, t.progress, t.checkpoint, t.result::text, t.error::text, t.updated_at FROM tasks t
            WHERE t.tenant_id = p_tenant AND t.id = ANY (v_ids) AND t.status IN ('completed', 'failed');
        END
        $$
        """,
        // The finished events name the task by the row's id, not by parsing it out of the message again.
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
                RETURNING t.id, t.message ->> 'global_task_id' AS global_task_id, t.status, t.result, t.error
            )
            INSERT INTO outbox (tenant_id, event, task_id, global_task_id, data)
            SELECT p_tenant, CASE WHEN f.status = 'completed' THEN 'task_completed' ELSE 'task_failed' END,
                f.id, f.global_task_id,
                CASE WHEN f.status = 'completed' THEN coalesce(f.result, '{}')
                     ELSE jsonb_build_object('error', f.error ->> 'message', 'error_type', f.error ->> 'error_type') END
            FROM finished f;
        END
        $$
        """,
    ]
}
