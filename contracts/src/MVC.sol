// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Pausable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Pausable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title MVC, the MileVerse Coin (seed 000, section 9)
/// @notice A capped ERC-20 (18 decimals, 3,000,000,000 MVC) whose whole supply is minted at
/// deployment to the six allocations: Sale 30%, Team 15%, Partner 10%, Advisor 3%,
/// Marketing 10%, Reserved 32%. Team and Advisor go to vesting wallets (deployed first).
/// Nothing can mint afterwards: the cap is reached at deployment.
///
/// Every balance change is checkpointed by block timestamp, so the quarterly rewards can
/// read each holder's balance and the supply "at the quarter-end instant" (`balanceAt`,
/// `totalSupplyAt`) without a snapshot transaction.
///
/// Roles instead of one owner key: DEFAULT_ADMIN_ROLE grants and revokes roles; PAUSER_ROLE
/// may pause transfers in an emergency.
contract MVC is ERC20Capped, ERC20Pausable, AccessControl {
    using Checkpoints for Checkpoints.Trace208;

    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    uint256 public constant CAP = 3_000_000_000 ether;
    uint256 public constant SALE_BPS = 3000;
    uint256 public constant TEAM_BPS = 1500;
    uint256 public constant PARTNER_BPS = 1000;
    uint256 public constant ADVISOR_BPS = 300;
    uint256 public constant MARKETING_BPS = 1000;
    uint256 public constant RESERVED_BPS = 3200;

    /// @notice Where each allocation goes at deployment.
    struct Allocation {
        address sale;
        address teamVesting;
        address partner;
        address advisorVesting;
        address marketing;
        address reserved;
    }

    mapping(address account => Checkpoints.Trace208) private _balanceHistory;
    Checkpoints.Trace208 private _supplyHistory;

    error FutureLookup(uint256 timestamp, uint48 now_);

    constructor(Allocation memory to, address admin) ERC20("MileVerse Coin", "MVC") ERC20Capped(CAP) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _mint(to.sale, (CAP * SALE_BPS) / 10_000);
        _mint(to.teamVesting, (CAP * TEAM_BPS) / 10_000);
        _mint(to.partner, (CAP * PARTNER_BPS) / 10_000);
        _mint(to.advisorVesting, (CAP * ADVISOR_BPS) / 10_000);
        _mint(to.marketing, (CAP * MARKETING_BPS) / 10_000);
        _mint(to.reserved, (CAP * RESERVED_BPS) / 10_000);
        assert(totalSupply() == CAP);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice The balance of `account` at the end of second `timestamp` (not in the future).
    function balanceAt(address account, uint256 timestamp) public view returns (uint256) {
        return _balanceHistory[account].upperLookupRecent(_pastKey(timestamp));
    }

    /// @notice The total supply at the end of second `timestamp` (not in the future).
    function totalSupplyAt(uint256 timestamp) public view returns (uint256) {
        return _supplyHistory.upperLookupRecent(_pastKey(timestamp));
    }

    function _pastKey(uint256 timestamp) private view returns (uint48) {
        uint48 now_ = SafeCast.toUint48(block.timestamp);
        // The current second is not over: balances may still change within it.
        if (timestamp >= now_) {
            revert FutureLookup(timestamp, now_);
        }
        return SafeCast.toUint48(timestamp);
    }

    function _update(address from, address to, uint256 value)
        internal
        override(ERC20Capped, ERC20Pausable)
    {
        super._update(from, to, value);
        uint48 key = SafeCast.toUint48(block.timestamp);
        if (from != address(0)) {
            _balanceHistory[from].push(key, SafeCast.toUint208(balanceOf(from)));
        }
        if (to != address(0)) {
            _balanceHistory[to].push(key, SafeCast.toUint208(balanceOf(to)));
        }
        if (from == address(0) || to == address(0)) {
            _supplyHistory.push(key, SafeCast.toUint208(totalSupply()));
        }
    }
}
