//! The development SMS outbox: an [`SmsGateway`] that keeps messages in memory so an operator
//! (or a test) can read them at `GET /admin/v1/sms-outbox`, for running without a real
//! gateway. Bounded: the oldest message leaves when [`OUTBOX_MESSAGES_MAX`] is reached.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::gateway::{BoxFuture, SmsError, SmsGateway};

pub const OUTBOX_MESSAGES_MAX: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub sequence: u64,
    pub phone: String,
    pub text: String,
    pub sent_at_s: u64,
}

#[derive(Debug, Default)]
pub struct DevOutbox {
    inner: Mutex<(u64, VecDeque<OutboxMessage>)>,
}

impl DevOutbox {
    pub fn new() -> DevOutbox {
        DevOutbox::default()
    }

    /// Messages, newest first, optionally only those to `phone`.
    pub fn messages(&self, phone: Option<&str>) -> Vec<OutboxMessage> {
        let inner = self.inner.lock().expect("outbox lock");
        inner
            .1
            .iter()
            .rev()
            .filter(|message| phone.is_none_or(|phone| message.phone == phone))
            .cloned()
            .collect()
    }
}

impl SmsGateway for DevOutbox {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), SmsError>> {
        let mut inner = self.inner.lock().expect("outbox lock");
        inner.0 += 1;
        let message = OutboxMessage {
            sequence: inner.0,
            phone: phone.to_string(),
            text: text.to_string(),
            sent_at_s: crate::time::now_s(),
        };
        if inner.1.len() == OUTBOX_MESSAGES_MAX {
            inner.1.pop_front();
        }
        inner.1.push_back(message);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outbox_keeps_the_newest_messages_up_to_its_maximum() {
        let outbox = DevOutbox::new();
        for n in 0..OUTBOX_MESSAGES_MAX + 5 {
            outbox.send("+8210", &format!("m{n}")).await.unwrap();
        }
        outbox.send("+8299", "other").await.unwrap();
        let all = outbox.messages(None);
        assert_eq!(all.len(), OUTBOX_MESSAGES_MAX);
        assert_eq!(all[0].text, "other");
        assert_eq!(outbox.messages(Some("+8299")).len(), 1);
        assert_eq!(all.last().unwrap().text, "m6");
    }
}
