//! What a request used and what it cost: the price table and the cost of one request.

pub mod extract;
pub mod prices;
