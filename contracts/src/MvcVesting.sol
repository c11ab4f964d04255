// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {VestingWallet} from "@openzeppelin/contracts/finance/VestingWallet.sol";
import {VestingWalletCliff} from "@openzeppelin/contracts/finance/VestingWalletCliff.sol";

/// @title A linear vesting wallet with a cliff, for the Team and Advisor allocations
/// @notice Releases linearly from `start` over `duration`, nothing before `start + cliff`.
/// The beneficiary owns it and may hand it over; nobody else can take the tokens.
contract MvcVesting is VestingWalletCliff {
    constructor(address beneficiary, uint64 start, uint64 duration, uint64 cliff)
        VestingWallet(beneficiary, start, duration)
        VestingWalletCliff(cliff)
    {}
}
