-- Succeeded processor payments whose metadata carries no orb_invoice_id cannot be reconciled (they have
-- no row in payment_reconciliation): list them as a warning rather than drop them silently.
{{ config(severity='warn', meta={'meaning': "succeeded processor payments whose metadata names no orb_invoice_id: they cannot be matched and have no row in payment_reconciliation"}) }}
select processor_payment_id, amount_minor, currency, created_at
from {{ ref('stg_orb__processor_payments') }}
where status = 'succeeded'
  and orb_invoice_id is null
