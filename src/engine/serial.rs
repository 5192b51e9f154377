//! One writer at a time for the records several steps share.
//!
//! Steps of several items run together in one run, and each step's commit
//! carries the queue's counters, read just before: two steps reading the
//! counters, then committing in turn, would lose one step's change. The
//! engine is single-threaded (browser futures are not `Send`), so a flag
//! and the wakers of those waiting are the whole lock.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub(super) struct SerialLock {
    held: Cell<bool>,
    waiting: RefCell<Vec<Waker>>,
}

/// Holds the lock until dropped.
#[derive(Debug)]
pub(super) struct SerialGuard<'a>(&'a SerialLock);

impl SerialLock {
    pub(super) fn lock(&self) -> impl Future<Output = SerialGuard<'_>> {
        Acquire(self)
    }
}

struct Acquire<'a>(&'a SerialLock);

impl<'a> Future for Acquire<'a> {
    type Output = SerialGuard<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.0;
        if lock.held.replace(true) {
            lock.waiting.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(SerialGuard(lock))
        }
    }
}

impl Drop for SerialGuard<'_> {
    /// Wakes every waiter, not one: a waiter whose future was dropped
    /// (a killed step) would never take the lock and pass it on.
    fn drop(&mut self) {
        self.0.held.set(false);
        for waker in self.0.waiting.take() {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_second_taker_waits_until_the_first_lets_go_and_is_woken() {
        let lock = SerialLock::default();
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(lock.lock());
        let Poll::Ready(guard) = first.as_mut().poll(&mut cx) else {
            panic!("a free lock is taken at once");
        };
        let mut second = Box::pin(lock.lock());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        // A third taker that goes away must not keep the lock from the second.
        let mut third = Box::pin(lock.lock());
        assert!(third.as_mut().poll(&mut cx).is_pending());
        drop(third);
        drop(guard);
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(second.as_mut().poll(&mut cx).is_ready());
    }
}
