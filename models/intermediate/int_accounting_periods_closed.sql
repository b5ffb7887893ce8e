-- SPEC §3 "Accounting period locks": a lock with status 'closed' that is not deleted closes every day up
-- to and including period_end, from locked_at on. One row per such lock.
with locks as (

    select * from {{ ref('stg_orb__accounting_period_lock') }}

),

final as (

    select
        accounting_period_lock_id,
        period_start,
        period_end,
        locked_at
    from locks
    where not is_deleted
      and status = 'closed'
      and locked_at is not null
      and period_end is not null

)

select * from final
