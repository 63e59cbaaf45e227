-- Reference for the hold path: Postgres alone holding 2 seats per
-- transaction for one buyer, with FOR UPDATE SKIP LOCKED (no waiting on
-- other buyers' rows), one transaction per hold.
-- Variables: :event (event id), :user (a user id, as text).
BEGIN;
INSERT INTO bookings (user_id, event_id, status, currency, expires_at)
VALUES (:user::uuid, :event, 'payment_pending', 'GBP', now() + interval '10 minutes')
RETURNING booking_id \gset
UPDATE event_seats es
   SET status = 'held', booking_id = ':booking_id'::uuid, held_until = now() + interval '10 minutes'
  FROM (SELECT seat_id FROM event_seats
         WHERE event_id = :event AND status = 'available'
         ORDER BY seat_id LIMIT 2 FOR UPDATE SKIP LOCKED) s
 WHERE es.event_id = :event AND es.seat_id = s.seat_id;
COMMIT;
