extension Migration {
    /// `ams_start_tasks` looked up the batch's finished tasks with a subquery that was evaluated
    /// again for every finished task of the tenant, so a batch cost grew with the tenant's history;
    /// the ids are now parsed once, and rows are answered by task id (migration 6's answered the
    /// whole message: a new result type, so the function is dropped and made anew). Its commit no
    /// longer waits for the disk: a lost `processing` mark only restarts a redelivered task. Task
    /// rows leave room on their page for the update that finishes them.
    static let taskBatches: [String] = [
        "ALTER TABLE tasks SET (fillfactor = 70)",
        "DROP FUNCTION ams_start_tasks(text, text[])",
        """
        CREATE FUNCTION ams_start_tasks(p_tenant text, p_messages text[])
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
    ]
}
