extension Migration {
    /// Tasks kept in bounds, and revalidations that cannot be lost.
    /// - `task_steps`: what a long task reported as it went, one row per report, so a report costs
    ///   what it adds rather than a rewrite of everything before it; the task's finish replaces them
    ///   with its result, and they go with their task.
    /// - `tasks_finished`: finished tasks by age, for the purge past `AMS_TASK_RETENTION`.
    /// - `revalidations`: a `revalidate_tenant` task recorded in the transaction of the tier or tool
    ///   catalog change that calls for it, until it is on the tenant's queue. Row-level security is on
    ///   and not forced, with no policy: only the functions of its owner (`SECURITY DEFINER`) read and
    ///   write it, across tenants.
    static let taskUpkeep: [String] = [
        """
        CREATE TABLE task_steps (
            tenant_id text NOT NULL,
            task_id uuid NOT NULL,
            step bigint GENERATED ALWAYS AS IDENTITY,
            added jsonb NOT NULL,
            PRIMARY KEY (tenant_id, task_id, step),
            FOREIGN KEY (tenant_id, task_id) REFERENCES tasks (tenant_id, id) ON DELETE CASCADE
        )
        """,
        "CREATE INDEX tasks_finished ON tasks (updated_at) WHERE status IN ('completed', 'failed')",
        """
        CREATE TABLE revalidations (
            task_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id text NOT NULL,
            reason text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            due_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX revalidations_due ON revalidations (due_at)",
        "ALTER TABLE revalidations ENABLE ROW LEVEL SECURITY",
    ] + tenantIsolation("task_steps")
}
